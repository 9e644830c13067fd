"""`sm-detect expose` against moto's server: what the public API is made of, made once.

moto stores API Gateway, Lambda, IAM and SSM resources but runs nothing (no integration, no
authorizer function): the requests' contract is tested against the local twin instead
(tests/deployment/test_public_gateway.py), and the authorizer's code in process
(tests/deployment/test_authorizer.py).
moto also loses a REST API's binary media types: that call is checked with botocore's Stubber.
"""

import hashlib
import io
import json
import os
import subprocess
import zipfile

import boto3
import pytest
from botocore.stub import ANY, Stubber

from scripts.lib.cloud import names, public_api
from scripts.lib.cloud.aws import Aws
from scripts.lib.cloud.public_api import authorizer, rest_api, spec
from tests.helpers import AWS_REGION, SM_DETECT

pytestmark = pytest.mark.aws
ACCOUNT = "123456789012"  # moto's account


def cli(*args, env):
    return subprocess.run([SM_DETECT, *args], capture_output=True, text=True, env=env, timeout=300)


def client(service):
    return boto3.client(service, region_name=AWS_REGION)


def the_api(endpoint):
    (api,) = [
        api
        for api in client("apigateway").get_rest_apis()["items"]
        if api.get("tags", {}).get("sm-detect:endpoint") == endpoint
    ]
    return api


def detect_resource(api_id):
    (resource,) = [
        r
        for r in client("apigateway").get_resources(restApiId=api_id)["items"]
        if r["path"] == "/detect"
    ]
    return resource


def role_policy(name):
    iam = client("iam")
    trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    policy = iam.get_role_policy(RoleName=name, PolicyName="sm-detect")["PolicyDocument"]
    return trust, policy


def test_api_key_mode(aws_env):
    result = cli(
        "expose",
        "--endpoint",
        "yolo",
        "--rate",
        "5",
        "--burst",
        "10",
        "--quota",
        "1000",
        "--cors-origin",
        "https://app.example.com",
        env=aws_env,
    )
    assert result.returncode == 0, result.stderr
    api = the_api("yolo")
    url = f"https://{api['id']}.execute-api.{AWS_REGION}.amazonaws.com/prod/detect"
    assert result.stdout.splitlines() == [url]  # no key value without --show-key
    assert f"invoke URL: {url}" in result.stderr and "API key id: " in result.stderr

    apigateway = client("apigateway")
    resource = detect_resource(api["id"])
    method = apigateway.get_method(
        restApiId=api["id"], resourceId=resource["id"], httpMethod="POST"
    )
    assert method["apiKeyRequired"] is True and method["authorizationType"] == "NONE"
    assert "method.request.querystring.attributes" in method["requestParameters"]
    integration = method["methodIntegration"]
    assert integration["type"] == "AWS"
    assert integration["uri"] == (
        f"arn:aws:apigateway:{AWS_REGION}:runtime.sagemaker:path//endpoints/yolo/invocations"
    )
    assert integration["requestParameters"] == {
        "integration.request.header.Content-Type": "method.request.header.Content-Type",
        "integration.request.header.Accept": "method.request.header.Accept",
        "integration.request.header.X-Amzn-SageMaker-Custom-Attributes": (
            "method.request.querystring.attributes"
        ),
        "integration.request.header.X-Amzn-SageMaker-Target-Model": (
            "method.request.querystring.model"
        ),
    }
    # the role the integration runs as may call this endpoint and nothing else
    role = client("iam").get_role(RoleName="sm-detect-yolo-api")["Role"]
    assert integration["credentials"] == role["Arn"]
    trust, policy = role_policy("sm-detect-yolo-api")
    assert trust["Statement"][0]["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "sagemaker:InvokeEndpoint",
            "Resource": f"arn:aws:sagemaker:{AWS_REGION}:{ACCOUNT}:endpoint/yolo",
        }
    ]
    # the container's error status and body come back, not SageMaker's 424
    model_error = apigateway.get_integration_response(
        restApiId=api["id"], resourceId=resource["id"], httpMethod="POST", statusCode="424"
    )
    assert model_error["selectionPattern"] == "424"
    assert "OriginalStatusCode" in model_error["responseTemplates"]["application/json"]

    plan = named(apigateway.get_usage_plans()["items"], "sm-detect-yolo")
    assert plan["throttle"] == {"rateLimit": 5.0, "burstLimit": 10}
    assert plan["quota"]["limit"] == 1000 and plan["quota"]["period"] == "DAY"
    assert plan["apiStages"] == [{"apiId": api["id"], "stage": "prod"}]
    key = named(apigateway.get_api_keys()["items"], "sm-detect-yolo")
    (attached,) = apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
    assert attached["id"] == key["id"] and key["enabled"]
    assert apigateway.get_stage(restApiId=api["id"], stageName="prod")["stageName"] == "prod"

    throttled = apigateway.get_gateway_response(restApiId=api["id"], responseType="THROTTLED")
    assert throttled["statusCode"] == "429"
    template = throttled["responseTemplates"]["application/json"]
    assert '"code": "TooManyRequests"' in template and "$context.error.messageString" in template

    options = apigateway.get_method(
        restApiId=api["id"], resourceId=resource["id"], httpMethod="OPTIONS"
    )
    assert options["methodIntegration"]["type"] == "MOCK"
    assert "https://app.example.com" in json.dumps(options["methodIntegration"])


def test_a_second_run_updates_and_shows_the_key_when_asked(aws_env):
    first = cli("expose", "--endpoint", "again", "--rate", "5", env=aws_env)
    assert first.returncode == 0, first.stderr
    made = the_api("again")
    result = cli(
        "expose", "--endpoint", "again", "--rate", "7", "--quota", "2000", "--show-key", env=aws_env
    )
    assert result.returncode == 0, result.stderr
    assert "updating REST API" in result.stderr
    apigateway = client("apigateway")
    assert the_api("again")["id"] == made["id"]
    plan = named(apigateway.get_usage_plans()["items"], "sm-detect-again")
    assert plan["throttle"]["rateLimit"] == 7.0 and plan["quota"]["limit"] == 2000
    key = named(apigateway.get_api_keys(includeValues=True)["items"], "sm-detect-again")
    assert result.stdout.splitlines()[-1] == key["value"]


def named(items, name):
    (item,) = [item for item in items if item["name"] == name]
    return item


def test_token_mode(aws_env):
    result = cli(
        "expose",
        "--endpoint",
        "tok",
        "--auth",
        "token",
        "--rate",
        "3",
        "--quota",
        "500",
        env=aws_env,
    )
    assert result.returncode == 0, result.stderr
    api = the_api("tok")
    # the authorizer names each caller's key
    assert api["apiKeySource"] == "AUTHORIZER"  # pragma: allowlist secret
    apigateway, lambda_ = client("apigateway"), client("lambda")
    function = lambda_.get_function(FunctionName="sm-detect-tok-authorizer")["Configuration"]
    assert function["Handler"] == "token_authorizer.handler"
    assert function["Environment"]["Variables"] == {
        "SECRET_PARAMETER": "/sm-detect/tok/token-secret"
    }
    (authorizer,) = apigateway.get_authorizers(restApiId=api["id"])["items"]
    assert authorizer["type"] == "TOKEN"
    assert function["FunctionArn"] in authorizer["authorizerUri"]
    assert authorizer["identitySource"] == "method.request.header.Authorization"
    assert authorizer["authorizerResultTtlInSeconds"] == spec.AUTHORIZER_TTL_SECONDS
    method = apigateway.get_method(
        restApiId=api["id"], resourceId=detect_resource(api["id"])["id"], httpMethod="POST"
    )
    assert method["authorizationType"] == "CUSTOM" and method["authorizerId"] == authorizer["id"]
    assert method["apiKeyRequired"] is True
    parameter = client("ssm").get_parameter(Name="/sm-detect/tok/token-secret", WithDecryption=True)
    assert parameter["Parameter"]["Type"] == "SecureString"
    assert len(parameter["Parameter"]["Value"]) >= 40
    trust, policy = role_policy("sm-detect-tok-authorizer")
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    secret_read, logs = policy["Statement"]
    assert secret_read == {
        "Effect": "Allow",
        "Action": "ssm:GetParameter",
        "Resource": f"arn:aws:ssm:{AWS_REGION}:{ACCOUNT}:parameter/sm-detect/tok/token-secret",
    }
    group = f"arn:aws:logs:{AWS_REGION}:{ACCOUNT}:log-group:/aws/lambda/sm-detect-tok-authorizer"
    assert logs["Resource"] == [group, f"{group}:*"]  # its own log group only
    # one usage plan counts every subject on its own: no key yet, nothing counted together
    plan = named(apigateway.get_usage_plans()["items"], "sm-detect-tok")
    assert plan["throttle"] == {"rateLimit": 3.0, "burstLimit": 20}
    assert plan["quota"]["limit"] == 500
    assert apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"] == []

    # a second run keeps the secret (tokens already given out stay valid)
    again = cli("expose", "--endpoint", "tok", "--auth", "token", env=aws_env)
    assert again.returncode == 0, again.stderr
    kept = client("ssm").get_parameter(Name="/sm-detect/tok/token-secret", WithDecryption=True)
    secret = kept["Parameter"]["Value"]
    assert secret == parameter["Parameter"]["Value"]
    assert len(apigateway.get_authorizers(restApiId=api["id"])["items"]) == 1

    # each subject's first token puts its usage key in the plan, once
    from scripts.lib.authorizer import token_authorizer

    for subject in ("mobile-app", "web-app", "mobile-app"):
        token = cli("token", "--subject", subject, "--endpoint", "tok", env=aws_env)
        assert token.returncode == 0, token.stderr
        minted = token.stdout.splitlines()[-1]
        assert token_authorizer.subject_of(f"Bearer {minted}", secret) == subject
    attached = apigateway.get_usage_plan_keys(usagePlanId=plan["id"])["items"]
    values = {
        apigateway.get_api_key(apiKey=item["id"], includeValue=True)["value"] for item in attached
    }
    assert values == {
        token_authorizer.usage_key("mobile-app", secret),
        token_authorizer.usage_key("web-app", secret),
    }


def test_teardown_leaves_nothing(aws_env):
    for endpoint, auth in (("gone", "api-key"), ("gone-tok", "token")):
        made = cli("expose", "--endpoint", endpoint, "--auth", auth, env=aws_env)
        assert made.returncode == 0, made.stderr
    token = cli("token", "--subject", "app", "--endpoint", "gone-tok", env=aws_env)
    assert token.returncode == 0, token.stderr
    for endpoint in ("gone", "gone-tok"):
        result = cli("teardown", "--endpoint", endpoint, env=aws_env)
        assert result.returncode == 0, result.stderr
        assert f"deleted REST API sm-detect-{endpoint}" in result.stderr
    apigateway = client("apigateway")
    ours = ("sm-detect-gone", "sm-detect-gone-tok")

    def left(items, key="name"):
        return [item for item in items if item[key].startswith(ours)]

    assert left(apigateway.get_rest_apis()["items"]) == []
    assert left(apigateway.get_usage_plans()["items"]) == []
    assert left(apigateway.get_api_keys()["items"]) == []
    assert left(client("lambda").list_functions()["Functions"], "FunctionName") == []
    assert left(client("ssm").describe_parameters()["Parameters"], "Name") == []
    assert not [r for r in client("iam").list_roles()["Roles"] if r["RoleName"].startswith(ours)]
    assert [
        p["Name"] for p in client("ssm").describe_parameters()["Parameters"] if "/gone" in p["Name"]
    ] == []


def test_dry_run_makes_no_call_and_says_what_it_would_make(aws_env):
    result = cli(
        "expose",
        "--endpoint",
        "dry",
        "--auth",
        "token",
        "--dry-run",
        "--region",
        "eu-west-1",
        env=aws_env,
    )
    assert result.returncode == 0, result.stderr
    assert "[dry run] apigateway.create_rest_api(" in result.stderr
    assert "[dry run] lambda.create_function(" in result.stderr
    assert "\\x" not in result.stderr and len(result.stderr) < 20_000  # not the zip's bytes
    assert '"ZipFile": "<' in result.stderr and ' bytes>"' in result.stderr
    assert "would create REST API" in result.stderr and "\ncreated " not in result.stderr
    (uri,) = [line for line in result.stderr.splitlines() if "create_authorizer(" in line]
    assert "arn:aws:lambda:eu-west-1:ACCOUNT:function:sm-detect-dry-authorizer" in uri
    assert "REGION" not in uri
    assert [
        a for a in client("apigateway").get_rest_apis()["items"] if a["name"].endswith("dry")
    ] == []
    assert "sm-detect-dry-authorizer" not in [
        f["FunctionName"] for f in client("lambda").list_functions()["Functions"]
    ]


def test_the_api_is_created_with_its_binary_media_types():
    apigateway = boto3.client(
        "apigateway", region_name=AWS_REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(apigateway)
    stubber.add_response("get_rest_apis", {"items": []})
    stubber.add_response(
        "create_rest_api",
        {"id": "abc123", "name": "sm-detect-yolo"},
        {
            "name": "sm-detect-yolo",
            "description": ANY,
            "binaryMediaTypes": list(spec.BINARY_MEDIA_TYPES),
            "apiKeySource": "HEADER",  # pragma: allowlist secret
            "endpointConfiguration": {"types": ["REGIONAL"]},
            "tags": {"sm-detect:endpoint": "yolo"},
        },
    )
    with stubber:
        api = public_api.PublicApi(
            Aws(region=AWS_REGION, clients={"apigateway": apigateway}), "yolo"
        )
        assert rest_api.rest_api(api) == "abc123"
        stubber.assert_no_pending_responses()
    assert {"image/jpeg", "image/png", "application/x-image", "application/x-npy"} <= set(
        spec.BINARY_MEDIA_TYPES
    )


def test_the_authorizer_is_zipped_reproducibly():
    from scripts.lib.authorizer import token_authorizer

    first = authorizer.authorizer_zip()
    source = token_authorizer.__file__
    times = os.stat(source)
    os.utime(source, (1, 1))  # a file's time must not change the bytes
    try:
        second = authorizer.authorizer_zip()
    finally:
        os.utime(source, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert first == second
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert "token_authorizer.py" in names and "jwt/__init__.py" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_names_fit_aws_limits():
    assert names.resource_name("yolo", "api") == "sm-detect-yolo-api"
    long_name = names.resource_name("y" * 63, "authorizer")
    digest = hashlib.sha256(b"y" * 63).hexdigest()[:8]
    # shortened, told apart from other long names by the endpoint's digest, still readable
    assert len(long_name) == 64 and long_name.endswith(f"-{digest}-authorizer")
    assert long_name.startswith("sm-detect-yyyy")
    other = names.resource_name("y" * 62 + "z", "authorizer")
    assert len(other) == 64 and other != long_name
