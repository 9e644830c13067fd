"""Errors a client caused, each carrying its HTTP status and a stable code.

They subclass the SageMaker inference toolkit's ``BaseInferenceToolkitError`` when the toolkit
is importable, so that AWS's own MXNet container (which only knows that base class) still
answers with the right status code when it runs our ``code/`` entry point.
"""

import json

try:
    from sagemaker_inference.errors import BaseInferenceToolkitError as _Base
except ImportError:  # the request path also runs on mxnet + numpy + Pillow alone
    _Base = Exception


def error_document(code: str, message: str) -> dict:
    """The project's error shape, for every door and the worker: ``{"error": {code, message}}``."""
    return {"error": {"code": code, "message": message}}


def parse_error(payload: bytes | str) -> tuple[str, str] | None:
    """(code, message) of a body in the project's error shape; None for anything else."""
    try:
        document = json.loads(payload)
    except (ValueError, TypeError):
        return None
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict) and {"code", "message"} <= set(error):
        return str(error["code"]), str(error["message"])
    return None


class RequestError(_Base):
    """A request the server refuses; ``status`` is a 4xx HTTP code."""

    status = 400
    code = "BadRequest"

    def __init__(self, message: str) -> None:
        self.message = message
        if _Base is Exception:
            super().__init__(message)
        else:
            super().__init__(self.status, message, self.code)

    def to_dict(self) -> dict:
        return error_document(self.code, self.message)


class InvalidInput(RequestError):
    status = 400
    code = "InvalidInput"


class InvalidParameter(RequestError):
    status = 400
    code = "InvalidParameter"


class UnsupportedContentType(RequestError):
    status = 415
    code = "UnsupportedContentType"


class UnsupportedAccept(RequestError):
    status = 406
    code = "UnsupportedAccept"


class PayloadTooLarge(RequestError):
    status = 413
    code = "PayloadTooLarge"


class S3BucketNotAllowed(RequestError):
    status = 403
    code = "S3BucketNotAllowed"


class S3AccessDenied(RequestError):
    status = 403
    code = "S3AccessDenied"


class S3ObjectNotFound(RequestError):
    status = 404
    code = "S3ObjectNotFound"


class S3Timeout(RequestError):
    status = 408
    code = "S3Timeout"
