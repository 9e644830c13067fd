"""What a public API is made of: its settings and names, and the helpers its parts share."""

import dataclasses
from typing import Any

from scripts.lib.cloud.aws import Aws
from scripts.lib.cloud.names import TAG_KEY, resource_name
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


class InvalidApi(ValueError):
    """Settings a public API cannot have; ``str()`` says which and why."""


@dataclasses.dataclass
class PublicApi:
    """The public API of one endpoint, as it is to be made."""

    aws: Aws
    endpoint: str
    auth: str = API_KEY
    rate: float = 10.0
    burst: int = 20
    quota: int | None = None
    stage: str = "prod"
    cors_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.auth not in AUTH_MODES:
            raise InvalidApi(f"auth must be one of {', '.join(AUTH_MODES)}, not {self.auth!r}")
        if self.rate <= 0 or self.burst < 1:
            raise InvalidApi("the rate must be above 0 and the burst at least 1")
        self.cors_origins = tuple(self.cors_origins)

    @property
    def tags(self) -> dict[str, str]:
        return {TAG_KEY: self.endpoint}

    @property
    def api_name(self) -> str:
        return resource_name(self.endpoint, "")

    @property
    def api_key_source(self) -> str:
        """Where API Gateway finds the key it counts a request against."""
        return "HEADER" if self.auth == API_KEY else "AUTHORIZER"

    def made(self, what: str) -> None:
        said_made(self.aws, what)

    def endpoint_arn(self, account: str) -> str:
        return f"arn:aws:sagemaker:{self.aws.region}:{account}:endpoint/{self.endpoint.lower()}"

    def cors_headers(self, prefix: str) -> dict[str, str]:
        """``Access-Control-Allow-Origin``: the first origin, where no template can choose."""
        if not self.cors_origins:
            return {}
        return {f"{prefix}Access-Control-Allow-Origin": f"'{self.cors_origins[0]}'"}


def invoke_url(api_id: str, region: str, stage: str) -> str:
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}/detect"


def said_made(aws: Aws, what: str) -> None:
    say(f"[dry run] would create {what}" if aws.dry_run else f"created {what}")


def find_named(listing: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((item for item in listing.get("items", []) if item.get("name") == name), None)
