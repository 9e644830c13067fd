"""What the deployment names and tags its AWS resources, so that a second run finds them and
``teardown`` removes them; every room of the cloud reads it, and it reads none of them."""

import hashlib

TAG_KEY = "sm-detect:endpoint"


def resource_name(endpoint: str, suffix: str, limit: int = 64) -> str:
    """``sm-detect-ENDPOINT-SUFFIX``, shortened with a hash where AWS's name limit needs it."""
    name = f"sm-detect-{endpoint}-{suffix}" if suffix else f"sm-detect-{endpoint}"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(endpoint.encode()).hexdigest()[:8]
    keep = limit - len(f"sm-detect--{digest}-{suffix}")
    return f"sm-detect-{endpoint[:keep]}-{digest}-{suffix}"


def secret_parameter(endpoint: str) -> str:
    return f"/sm-detect/{endpoint}/token-secret"
