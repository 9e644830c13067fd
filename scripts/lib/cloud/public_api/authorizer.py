"""Token auth: the Lambda TOKEN authorizer, its code zipped reproducibly with PyJWT, its secret in
SSM Parameter Store, its role (reading that secret, writing its own log group) and API Gateway's
authorizer before it, its answers cached for ``AUTHORIZER_TTL_SECONDS``."""

import io
import os
import secrets
import zipfile
from collections.abc import Mapping

from botocore.exceptions import ClientError

from scripts.lib.authorizer import token_authorizer
from scripts.lib.cloud.aws import Aws, get_or_none
from scripts.lib.cloud.names import resource_name, secret_parameter
from scripts.lib.cloud.public_api.roles import put_role
from scripts.lib.cloud.public_api.spec import (
    AUTHORIZER_TTL_SECONDS,
    LAMBDA_RUNTIME,
    PublicApi,
    find_named,
    said_made,
)
from scripts.lib.progress import say


def authorizer_zip() -> bytes:
    """The authorizer's code and PyJWT, zipped so that the same code gives the same bytes."""
    import jwt

    files = {"token_authorizer.py": token_authorizer.__file__}
    package = os.path.dirname(jwt.__file__)
    for root, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith((".py", ".typed")):
                path = os.path.join(root, name)
                files[os.path.join("jwt", os.path.relpath(path, package))] = path
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(files[name], "rb") as file:
                archive.writestr(info, file.read())
    return buffer.getvalue()


def authorizer(api: PublicApi, api_id: str, account: str) -> str:
    """The Lambda TOKEN authorizer: its secret, role, function and API Gateway authorizer."""
    parameter = token_secret(api)
    parameter_arn = f"arn:aws:ssm:{api.aws.region}:{account}:parameter{parameter}"
    function_name = resource_name(api.endpoint, "authorizer")
    role_arn = put_role(
        api.aws,
        function_name,
        "lambda.amazonaws.com",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "ssm:GetParameter", "Resource": parameter_arn},
                {
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                    ],
                    # its own log group, nothing else
                    "Resource": [
                        f"arn:aws:logs:{api.aws.region}:{account}:log-group:"
                        f"/aws/lambda/{function_name}",
                        f"arn:aws:logs:{api.aws.region}:{account}:log-group:"
                        f"/aws/lambda/{function_name}:*",
                    ],
                },
            ],
        },
        api.tags,
    )
    function_arn = put_function(
        api.aws, function_name, role_arn, {"SECRET_PARAMETER": parameter}, api.tags, account
    )
    apigateway = api.aws.client("apigateway")
    uri = (
        f"arn:aws:apigateway:{api.aws.region}:lambda:path/2015-03-31/functions/"
        f"{function_arn}/invocations"
    )
    found = None
    if not api.aws.dry_run:
        found = find_named(apigateway.get_authorizers(restApiId=api_id), function_name)
    if found:
        apigateway.update_authorizer(
            restApiId=api_id,
            authorizerId=found["id"],
            patchOperations=[
                {"op": "replace", "path": "/authorizerUri", "value": uri},
                {
                    "op": "replace",
                    "path": "/authorizerResultTtlInSeconds",
                    "value": str(AUTHORIZER_TTL_SECONDS),
                },
            ],
        )
        authorizer_id = found["id"]
    else:
        authorizer_id = apigateway.create_authorizer(
            restApiId=api_id,
            name=function_name,
            type="TOKEN",
            authorizerUri=uri,
            identitySource="method.request.header.Authorization",
            authorizerResultTtlInSeconds=AUTHORIZER_TTL_SECONDS,
        ).get("id", "AUTHORIZER_ID")
    allow_api_gateway(api.aws, function_name, api_id, account)
    return authorizer_id


def token_secret(api: PublicApi) -> str:
    """The SSM SecureString tokens are signed with; made once, kept on later runs."""
    ssm, name = api.aws.client("ssm"), secret_parameter(api.endpoint)
    if api.aws.dry_run:
        say(f"[dry run] would make the SecureString {name} with a random secret if missing")
        return name
    if get_or_none(ssm.get_parameter, Name=name):
        return name
    ssm.put_parameter(
        Name=name,
        Type="SecureString",
        Value=secrets.token_urlsafe(32),
        Description=f"sm-detect: the secret of {api.endpoint}'s API tokens",
        Tags=[{"Key": key, "Value": value} for key, value in api.tags.items()],
    )
    api.made(f"SecureString {name}")
    return name


def put_function(
    aws: Aws,
    name: str,
    role_arn: str,
    environment: Mapping[str, str],
    tags: Mapping[str, str],
    account: str,
) -> str:
    """The authorizer function with this code; made, or its code and settings updated."""
    lambda_ = aws.client("lambda")
    code = authorizer_zip()
    settings = {
        "Role": role_arn,
        "Handler": "token_authorizer.handler",
        "Runtime": LAMBDA_RUNTIME,
        "Timeout": 5,
        "MemorySize": 128,
        "Environment": {"Variables": environment},
    }
    existing = None if aws.dry_run else get_or_none(lambda_.get_function, FunctionName=name)
    if existing is None:
        created = lambda_.create_function(
            FunctionName=name,
            Code={"ZipFile": code},
            Description="sm-detect: the public API's token authorizer",
            Tags=tags,
            **settings,
        )
        said_made(aws, f"Lambda function {name} ({len(code)} bytes of code)")
        return created.get("FunctionArn", f"arn:aws:lambda:{aws.region}:{account}:function:{name}")
    lambda_.update_function_code(FunctionName=name, ZipFile=code)
    lambda_.get_waiter("function_updated_v2").wait(FunctionName=name)
    lambda_.update_function_configuration(FunctionName=name, **settings)
    say(f"updated Lambda function {name}")
    return existing["Configuration"]["FunctionArn"]


def allow_api_gateway(aws: Aws, function_name: str, api_id: str, account: str) -> None:
    """Let this API's authorizers invoke the function (once)."""
    try:
        aws.client("lambda").add_permission(
            FunctionName=function_name,
            StatementId=f"apigateway-{api_id}",
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=f"arn:aws:execute-api:{aws.region}:{account}:{api_id}/authorizers/*",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceConflictException":
            raise
