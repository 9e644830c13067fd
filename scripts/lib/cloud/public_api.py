"""``expose``: a public HTTPS API in front of an endpoint, API Gateway integrated with SageMaker.

What it makes, each named after the endpoint and tagged ``sm-detect:endpoint`` so that a second
run updates rather than duplicates and ``teardown`` finds it:

- an IAM role API Gateway assumes, allowed ``sagemaker:InvokeEndpoint`` on this endpoint only;
- a REST API with ``POST /detect`` integrated directly with SageMaker's runtime (type AWS, no
  Lambda in the request path), images passed as binary, ``Content-Type`` and ``Accept`` passed
  through, and the ``attributes`` query parameter passed as ``X-Amzn-SageMaker-Custom-Attributes``;
- the container's errors (SageMaker's ModelError) given back with their own status and body, and
  API Gateway's own errors (403, 429, ...) in the project's JSON shape;
- a usage plan with the rate, burst and daily quota, which API Gateway counts per API key: each
  caller is throttled on its own, and one caller's burst leaves the others their share;
- ``api-key`` auth: the method requires a key (``x-api-key``), attached to the usage plan;
- ``token`` auth: a Lambda TOKEN authorizer (``scripts/lib/authorizer``, zipped reproducibly with
  PyJWT) whose secret is a SecureString in SSM Parameter Store, its own role allowed to read that
  parameter and write its own log group, its answers cached for ``AUTHORIZER_TTL_SECONDS``. The
  API takes its keys from the authorizer (``apiKeySource`` AUTHORIZER): the authorizer names each
  subject's usage key, which ``sm-detect token`` attaches to the usage plan (``register_caller``);
- with CORS origins: an OPTIONS method (mock integration) and the headers on the answers.

Why ``attributes`` and not one query parameter per setting: API Gateway maps a header from one
source. Joining several needs a mapping template, and a template only runs on a text body: the
image would have to become base64 text (``CONVERT_TO_TEXT``) and could not reach SageMaker as the
bytes it is. ``?attributes=threshold=0.3,mode=square416`` is the header's own syntax.
"""

import hashlib
import io
import json
import os
import secrets
import zipfile

from botocore.exceptions import ClientError

from inference.headers import CUSTOM_ATTRIBUTES
from scripts.lib.authorizer import token_authorizer
from scripts.lib.cloud.aws import get_or_none
from scripts.lib.cloud.endpoint import TAG_KEY
from scripts.lib.errors import CommandError
from scripts.lib.progress import say

API_KEY, TOKEN = "api-key", "token"
AUTH_MODES = (API_KEY, TOKEN)
AUTHORIZER_TTL_SECONDS = 300
LAMBDA_RUNTIME = "python3.12"
# images pass as the bytes they are; JSON (text) is passed as it is too, without a template
BINARY_MEDIA_TYPES = (
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/bmp",
    "image/tiff",
    "image/webp",
    "application/x-image",
    "application/x-npy",
)
RESPONSE_TYPES = ("application/json", "application/jsonlines", "application/x-npy")
ALLOWED_HEADERS = "Content-Type,Accept,Authorization,x-api-key"
# API Gateway's own errors, in the project's shape: (response type, status, code)
GATEWAY_RESPONSES = (
    ("MISSING_AUTHENTICATION_TOKEN", "403", "MissingAuthenticationToken"),
    ("INVALID_API_KEY", "403", "Forbidden"),
    ("UNAUTHORIZED", "403", "Unauthorized"),
    ("ACCESS_DENIED", "403", "AccessDenied"),
    ("THROTTLED", "429", "TooManyRequests"),
    ("QUOTA_EXCEEDED", "429", "TooManyRequests"),
    ("DEFAULT_4XX", None, "BadRequest"),
    ("DEFAULT_5XX", None, "InternalError"),
)
GATEWAY_ERROR_TEMPLATE = '{"error": {"code": "%s", "message": $context.error.messageString}}'
METHOD_STATUSES = ("200", "400", "403", "404", "406", "413", "415", "424", "429", "500", "502")
# SageMaker's ModelError (424) carries the container's status and body: give those back
MODEL_ERROR_TEMPLATE = """#set($answer = $util.parseJson($input.body))
#set($context.responseOverride.status = $answer.OriginalStatusCode)
$answer.OriginalMessage"""
RUNTIME_ERROR_TEMPLATE = (
    '{"error": {"code": "$input.path(\'$.__type\')", '
    '"message": "$util.escapeJavaScript($input.path(\'$.message\'))"}}'
)


def resource_name(endpoint, suffix, limit=64):
    """``sm-detect-ENDPOINT-SUFFIX``, shortened with a hash where AWS's name limit needs it."""
    name = f"sm-detect-{endpoint}-{suffix}" if suffix else f"sm-detect-{endpoint}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(endpoint.encode()).hexdigest()[:8]
    keep = limit - len(f"sm-detect--{digest}-{suffix}")
    return f"sm-detect-{endpoint[:keep]}-{digest}-{suffix}"


def secret_parameter(endpoint):
    return f"/sm-detect/{endpoint}/token-secret"


def invoke_url(api_id, region, stage):
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}/detect"


def authorizer_zip():
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


class Exposure:
    """The public API of one endpoint; ``apply`` makes or updates it, ``remove`` deletes it."""

    def __init__(
        self,
        aws,
        endpoint,
        auth=API_KEY,
        rate=10.0,
        burst=20,
        quota=None,
        stage="prod",
        cors_origins=(),
    ):
        if auth not in AUTH_MODES:
            raise CommandError(f"--auth must be one of {', '.join(AUTH_MODES)}")
        if rate <= 0 or burst < 1:
            raise CommandError("--rate must be above 0 and --burst at least 1")
        self.aws, self.endpoint, self.auth = aws, endpoint, auth
        self.rate, self.burst, self.quota = rate, burst, quota
        self.stage, self.cors_origins = stage, tuple(cors_origins)
        self.tags = {TAG_KEY: endpoint}

    # -- names --------------------------------------------------------------------------------
    @property
    def api_name(self):
        return resource_name(self.endpoint, "")

    @property
    def api_key_source(self):
        """Where API Gateway finds the key it counts a request against."""
        return "HEADER" if self.auth == API_KEY else "AUTHORIZER"

    def made(self, what):
        said_made(self.aws, what)

    def endpoint_arn(self, account):
        return f"arn:aws:sagemaker:{self.aws.region}:{account}:endpoint/{self.endpoint.lower()}"

    # -- apply ----------------------------------------------------------------------------------
    def apply(self, show_key=False):
        """Make or update everything; returns (invoke URL, key id or None, key value or None)."""
        account = self.aws.account_id()
        role_arn = self.integration_role(account)
        api_id = self.rest_api()
        resource_id = self.detect_resource(api_id)
        authorizer_id = self.authorizer(api_id, account) if self.auth == TOKEN else None
        self.post_method(api_id, resource_id, role_arn, authorizer_id)
        if self.cors_origins:
            self.options_method(api_id, resource_id)
        self.gateway_responses(api_id)
        self.deploy(api_id)
        plan_id = self.usage_plan(api_id)
        key_id = key_value = None
        if self.auth == API_KEY:
            key_id, key_value = self.api_key(plan_id)
        url = invoke_url(api_id, self.aws.region, self.stage)
        say(f"invoke URL: {url}")
        if key_id:
            say(f"API key id: {key_id}" + ("" if show_key else " (its value: --show-key)"))
        return url, key_id, key_value if show_key else None

    def integration_role(self, account):
        """The role API Gateway assumes to call this endpoint, and nothing else."""
        return put_role(
            self.aws,
            resource_name(self.endpoint, "api"),
            "apigateway.amazonaws.com",
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sagemaker:InvokeEndpoint",
                        "Resource": self.endpoint_arn(account),
                    }
                ],
            },
            self.tags,
        )

    def rest_api(self):
        apigateway = self.aws.client("apigateway")
        found = find_rest_api(self.aws, self.endpoint)
        if found:
            present = set(found.get("binaryMediaTypes") or ())
            operations = [
                {"op": "add", "path": "/binaryMediaTypes/" + media_type.replace("/", "~1")}
                for media_type in BINARY_MEDIA_TYPES
                if media_type not in present
            ]
            if found.get("apiKeySource", "HEADER") != self.api_key_source:
                operations.append(
                    {"op": "replace", "path": "/apiKeySource", "value": self.api_key_source}
                )
            if operations:
                apigateway.update_rest_api(restApiId=found["id"], patchOperations=operations)
            say(f"updating REST API {self.api_name} ({found['id']})")
            return found["id"]
        created = apigateway.create_rest_api(
            name=self.api_name,
            description=f"sm-detect: the public API of SageMaker endpoint {self.endpoint}",
            binaryMediaTypes=list(BINARY_MEDIA_TYPES),
            apiKeySource=self.api_key_source,
            endpointConfiguration={"types": ["REGIONAL"]},
            tags=self.tags,
        )
        self.made(f"REST API {self.api_name} ({created.get('id', 'API_ID')})")
        return created.get("id", "API_ID")

    def detect_resource(self, api_id):
        apigateway = self.aws.client("apigateway")
        if self.aws.dry_run:
            apigateway.create_resource(restApiId=api_id, parentId="ROOT_ID", pathPart="detect")
            return "RESOURCE_ID"
        resources = apigateway.get_resources(restApiId=api_id, limit=500)["items"]
        for resource in resources:
            if resource.get("path") == "/detect":
                return resource["id"]
        root = next(resource["id"] for resource in resources if resource.get("path") == "/")
        return apigateway.create_resource(restApiId=api_id, parentId=root, pathPart="detect")["id"]

    def authorizer(self, api_id, account):
        """The Lambda TOKEN authorizer: its secret, role, function and API Gateway authorizer."""
        parameter = self.token_secret()
        parameter_arn = f"arn:aws:ssm:{self.aws.region}:{account}:parameter{parameter}"
        function_name = resource_name(self.endpoint, "authorizer")
        role_arn = put_role(
            self.aws,
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
                            f"arn:aws:logs:{self.aws.region}:{account}:log-group:"
                            f"/aws/lambda/{function_name}",
                            f"arn:aws:logs:{self.aws.region}:{account}:log-group:"
                            f"/aws/lambda/{function_name}:*",
                        ],
                    },
                ],
            },
            self.tags,
        )
        function_arn = put_function(
            self.aws, function_name, role_arn, {"SECRET_PARAMETER": parameter}, self.tags, account
        )
        apigateway = self.aws.client("apigateway")
        uri = (
            f"arn:aws:apigateway:{self.aws.region}:lambda:path/2015-03-31/functions/"
            f"{function_arn}/invocations"
        )
        found = None
        if not self.aws.dry_run:
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
        allow_api_gateway(self.aws, function_name, api_id, account)
        return authorizer_id

    def token_secret(self):
        """The SSM SecureString tokens are signed with; made once, kept on later runs."""
        ssm, name = self.aws.client("ssm"), secret_parameter(self.endpoint)
        if self.aws.dry_run:
            say(f"[dry run] would make the SecureString {name} with a random secret if missing")
            return name
        if get_or_none(ssm.get_parameter, Name=name):
            return name
        ssm.put_parameter(
            Name=name,
            Type="SecureString",
            Value=secrets.token_urlsafe(32),
            Description=f"sm-detect: the secret of {self.endpoint}'s API tokens",
            Tags=[{"Key": key, "Value": value} for key, value in self.tags.items()],
        )
        self.made(f"SecureString {name}")
        return name

    def post_method(self, api_id, resource_id, role_arn, authorizer_id):
        apigateway = self.aws.client("apigateway")
        replace_method(self.aws, api_id, resource_id, "POST")
        apigateway.put_method(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod="POST",
            authorizationType="CUSTOM" if authorizer_id else "NONE",
            **({"authorizerId": authorizer_id} if authorizer_id else {}),
            # with tokens the key is the one the authorizer names for the subject
            apiKeyRequired=True,
            requestParameters={
                "method.request.header.Content-Type": False,
                "method.request.header.Accept": False,
                "method.request.querystring.attributes": False,
            },
        )
        apigateway.put_integration(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod="POST",
            type="AWS",
            integrationHttpMethod="POST",
            uri=(
                f"arn:aws:apigateway:{self.aws.region}:runtime.sagemaker:path//endpoints/"
                f"{self.endpoint}/invocations"
            ),
            credentials=role_arn,
            passthroughBehavior="WHEN_NO_TEMPLATES",
            requestParameters={
                "integration.request.header.Content-Type": "method.request.header.Content-Type",
                "integration.request.header.Accept": "method.request.header.Accept",
                f"integration.request.header.{CUSTOM_ATTRIBUTES}": (
                    "method.request.querystring.attributes"
                ),
            },
        )
        origin = self.cors_headers("method.response.header.")
        for status in METHOD_STATUSES:
            apigateway.put_method_response(
                restApiId=api_id,
                resourceId=resource_id,
                httpMethod="POST",
                statusCode=status,
                responseParameters={
                    "method.response.header.Content-Type": False,
                    **dict.fromkeys(origin, False),
                },
            )
        answers = (
            # the container's answer, as it is (JSON, NPY, or the annotated image)
            (
                "200",
                None,
                {"method.response.header.Content-Type": "integration.response.header.Content-Type"},
                {},
            ),
            ("424", "424", {}, dict.fromkeys(RESPONSE_TYPES, MODEL_ERROR_TEMPLATE)),
            (
                "400",
                r"4([013-9]\d|2[0-35-9])",
                {},
                dict.fromkeys(RESPONSE_TYPES, RUNTIME_ERROR_TEMPLATE),
            ),
            ("502", r"5\d\d", {}, dict.fromkeys(RESPONSE_TYPES, RUNTIME_ERROR_TEMPLATE)),
        )
        for status, pattern, parameters, templates in answers:
            apigateway.put_integration_response(
                restApiId=api_id,
                resourceId=resource_id,
                httpMethod="POST",
                statusCode=status,
                **({"selectionPattern": pattern} if pattern else {}),
                responseParameters={**parameters, **origin},
                **({"responseTemplates": templates} if templates else {}),
            )

    def cors_headers(self, prefix):
        """``Access-Control-Allow-Origin``: the first origin, where no template can choose."""
        if not self.cors_origins:
            return {}
        return {f"{prefix}Access-Control-Allow-Origin": f"'{self.cors_origins[0]}'"}

    def options_method(self, api_id, resource_id):
        """The browser's preflight: a mock integration that names the listed origin it came from."""
        apigateway = self.aws.client("apigateway")
        replace_method(self.aws, api_id, resource_id, "OPTIONS")
        apigateway.put_method(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod="OPTIONS",
            authorizationType="NONE",
            apiKeyRequired=False,
        )
        apigateway.put_integration(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod="OPTIONS",
            type="MOCK",
            requestTemplates={"application/json": '{"statusCode": 200}'},
        )
        headers = {
            "Access-Control-Allow-Methods": "'POST,OPTIONS'",
            "Access-Control-Allow-Headers": f"'{ALLOWED_HEADERS}'",
            "Access-Control-Max-Age": "'600'",
        }
        apigateway.put_method_response(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod="OPTIONS",
            statusCode="200",
            responseParameters={
                f"method.response.header.{name}": False
                for name in (*headers, "Access-Control-Allow-Origin")
            },
        )
        allowed = ", ".join(json.dumps(origin) for origin in self.cors_origins)
        echo = (
            f"#set($allowed = [{allowed}])\n"
            "#set($origin = $input.params().header.get('Origin'))\n"
            "#if($allowed.contains($origin))\n"
            "#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)\n"
            "#end\n"
        )
        apigateway.put_integration_response(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod="OPTIONS",
            statusCode="200",
            responseParameters={
                f"method.response.header.{name}": value for name, value in headers.items()
            },
            responseTemplates={"application/json": echo},
        )

    def gateway_responses(self, api_id):
        apigateway = self.aws.client("apigateway")
        for response_type, status, code in GATEWAY_RESPONSES:
            apigateway.put_gateway_response(
                restApiId=api_id,
                responseType=response_type,
                **({"statusCode": status} if status else {}),
                responseParameters={
                    **self.cors_headers("gatewayresponse.header."),
                    **({"gatewayresponse.header.Retry-After": "'1'"} if status == "429" else {}),
                },
                responseTemplates={"application/json": GATEWAY_ERROR_TEMPLATE % code},
            )

    def deploy(self, api_id):
        self.aws.client("apigateway").create_deployment(
            restApiId=api_id, stageName=self.stage, description="sm-detect expose"
        )

    def usage_plan(self, api_id):
        """The usage plan: rate, burst and daily quota for each key; returns its id."""
        apigateway = self.aws.client("apigateway")
        throttle = {"rateLimit": float(self.rate), "burstLimit": int(self.burst)}
        quota = {"limit": int(self.quota), "period": "DAY"} if self.quota else None
        plan = self.find_plan()
        if plan is None:
            created = apigateway.create_usage_plan(
                name=self.api_name,
                description=f"sm-detect: callers of {self.endpoint}",
                apiStages=[{"apiId": api_id, "stage": self.stage}],
                throttle=throttle,
                **({"quota": quota} if quota else {}),
                tags=self.tags,
            )
            self.made(f"usage plan {self.api_name}")
            return created.get("id", "USAGE_PLAN_ID")
        operations = [
            {"op": "replace", "path": "/throttle/rateLimit", "value": f"{self.rate:g}"},
            {"op": "replace", "path": "/throttle/burstLimit", "value": str(self.burst)},
        ]
        if quota:
            operations += [
                {"op": "replace", "path": "/quota/limit", "value": str(self.quota)},
                {"op": "replace", "path": "/quota/period", "value": "DAY"},
            ]
        apigateway.update_usage_plan(usagePlanId=plan["id"], patchOperations=operations)
        stages = {(s["apiId"], s["stage"]) for s in plan.get("apiStages", [])}
        if (api_id, self.stage) not in stages:
            apigateway.update_usage_plan(
                usagePlanId=plan["id"],
                patchOperations=[
                    {"op": "add", "path": "/apiStages", "value": f"{api_id}:{self.stage}"}
                ],
            )
        return plan["id"]

    def find_plan(self):
        if self.aws.dry_run:
            return None
        apigateway = self.aws.client("apigateway")
        return find_named(apigateway.get_usage_plans(limit=500), self.api_name)

    def api_key(self, plan_id):
        """The API's key (api-key auth), in the usage plan; (key id, key value)."""
        return self.plan_key(plan_id, self.api_name)

    def register_caller(self, subject, signing_secret):
        """The usage key the authorizer names for ``subject`` (token auth), in the usage plan."""
        plan = self.find_plan()
        if plan is None:
            raise CommandError(
                f"{self.endpoint} has no usage plan: run `sm-detect expose --endpoint "
                f"{self.endpoint} --auth token` first"
            )
        digest = hashlib.sha256(subject.encode()).hexdigest()[:12]
        return self.plan_key(
            plan["id"],
            resource_name(self.endpoint, f"caller-{digest}"),
            value=token_authorizer.usage_key(subject, signing_secret),
            description=f"sm-detect: the usage key of token subject {subject[:200]!r}",
        )

    def plan_key(self, plan_id, name, value=None, description=None):
        """An API key called ``name`` (with ``value``, if given), attached to the plan."""
        apigateway = self.aws.client("apigateway")
        key = (
            None
            if self.aws.dry_run
            else find_named(
                apigateway.get_api_keys(nameQuery=name, includeValues=True, limit=500), name
            )
        )
        if key is None:
            key = apigateway.create_api_key(
                name=name,
                enabled=True,
                tags=self.tags,
                **({"value": value} if value else {}),
                **({"description": description} if description else {}),
            ) or {"id": "API_KEY_ID"}
            self.made(f"API key {name}")
        if self.aws.dry_run:
            apigateway.create_usage_plan_key(
                usagePlanId=plan_id, keyId="API_KEY_ID", keyType="API_KEY"
            )
            return "API_KEY_ID", None
        attached = apigateway.get_usage_plan_keys(usagePlanId=plan_id, limit=500).get("items", [])
        if key["id"] not in {item["id"] for item in attached}:
            apigateway.create_usage_plan_key(
                usagePlanId=plan_id, keyId=key["id"], keyType="API_KEY"
            )
        return key["id"], key.get("value")

    # -- remove ---------------------------------------------------------------------------------
    def remove(self):
        """Delete what ``apply`` made for this endpoint; say what was there."""
        apigateway, name = self.aws.client("apigateway"), resource_name(self.endpoint, "")
        plan = find_named(apigateway.get_usage_plans(limit=500), name)
        if plan:
            for item in apigateway.get_usage_plan_keys(usagePlanId=plan["id"], limit=500).get(
                "items", []
            ):
                apigateway.delete_usage_plan_key(usagePlanId=plan["id"], keyId=item["id"])
            apigateway.delete_usage_plan(usagePlanId=plan["id"])
            say(f"deleted usage plan {name}")
        # the API's key and its callers' usage keys, all named after it and tagged for it
        for key in apigateway.get_api_keys(nameQuery=name, limit=500).get("items", []):
            if (key.get("tags") or {}).get(TAG_KEY) == self.endpoint:
                apigateway.delete_api_key(apiKey=key["id"])
                say(f"deleted API key {key['name']}")
        api = find_rest_api(self.aws, self.endpoint)
        if api:
            apigateway.delete_rest_api(restApiId=api["id"])
            say(f"deleted REST API {name} ({api['id']})")
        function_name = resource_name(self.endpoint, "authorizer")
        lambda_ = self.aws.client("lambda")
        if get_or_none(lambda_.delete_function, FunctionName=function_name) is not None:
            say(f"deleted Lambda function {function_name}")
        parameter = secret_parameter(self.endpoint)
        if get_or_none(self.aws.client("ssm").delete_parameter, Name=parameter) is not None:
            say(f"deleted SecureString {parameter}")
        for role in (resource_name(self.endpoint, "api"), function_name):
            delete_role(self.aws, role)


def plan_removal(endpoint):
    """What ``remove`` would delete, said without asking AWS."""
    name = resource_name(endpoint, "")
    return [
        f"REST API {name} (tagged {TAG_KEY}={endpoint}), its usage plan and API keys {name}*",
        f"Lambda function {resource_name(endpoint, 'authorizer')} and SecureString "
        f"{secret_parameter(endpoint)}, if the API used tokens",
        f"IAM roles {resource_name(endpoint, 'api')} and {resource_name(endpoint, 'authorizer')}",
    ]


def said_made(aws, what):
    say(f"[dry run] would create {what}" if aws.dry_run else f"created {what}")


def find_named(listing, name):
    return next((item for item in listing.get("items", []) if item.get("name") == name), None)


def find_rest_api(aws, endpoint):
    """The REST API ``expose`` made for ``endpoint``, found by its tag."""
    if aws.dry_run:
        return None
    pages = aws.client("apigateway").get_paginator("get_rest_apis").paginate()
    for page in pages:
        for api in page.get("items", []):
            if (api.get("tags") or {}).get(TAG_KEY) == endpoint:
                return api
    return None


def replace_method(aws, api_id, resource_id, http_method):
    """Delete ``http_method`` if it is there, so that it is put again as this run says."""
    if not aws.dry_run:
        get_or_none(
            aws.client("apigateway").delete_method,
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod=http_method,
        )


def put_role(aws, name, service, policy, tags):
    """A role ``service`` may assume with ``policy`` inline; made or updated. Returns its ARN."""
    iam = aws.client("iam")
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    existing = None if aws.dry_run else get_or_none(iam.get_role, RoleName=name)
    if existing:
        arn = existing["Role"]["Arn"]
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust)
    else:
        arn = (
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=trust,
                Description="sm-detect: made by `sm-detect expose`",
                Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
            )
            .get("Role", {})
            .get("Arn", f"arn:aws:iam::ACCOUNT:role/{name}")
        )
    iam.put_role_policy(RoleName=name, PolicyName="sm-detect", PolicyDocument=json.dumps(policy))
    return arn


def delete_role(aws, name):
    iam = aws.client("iam")
    policies = get_or_none(iam.list_role_policies, RoleName=name)
    if policies is None:
        return
    for policy in policies.get("PolicyNames", []):
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    iam.delete_role(RoleName=name)
    say(f"deleted IAM role {name}")


def put_function(aws, name, role_arn, environment, tags, account):
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


def allow_api_gateway(aws, function_name, api_id, account):
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
