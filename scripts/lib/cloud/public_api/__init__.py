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

from scripts.lib.cloud.public_api.exposure import apply, remove
from scripts.lib.cloud.public_api.spec import API_KEY, AUTH_MODES, TOKEN, InvalidApi, PublicApi
from scripts.lib.cloud.public_api.usage_plan import NoUsagePlan, register_caller

__all__ = [
    "API_KEY",
    "AUTH_MODES",
    "TOKEN",
    "InvalidApi",
    "NoUsagePlan",
    "PublicApi",
    "apply",
    "register_caller",
    "remove",
]
