"""The HTTP headers of SageMaker's invocation contract that the server and its clients share."""

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
MAX_CUSTOM_ATTRIBUTES = 1024  # SageMaker's limit: 1024 visible US-ASCII characters
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
# a multi-model endpoint's TargetModel, passed on by SageMaker for the container's logs
TARGET_MODEL = "X-Amzn-SageMaker-Target-Model"
# the runtime's own, never the container's: the production variant a caller asks for, and the
# one that answered
TARGET_VARIANT = "X-Amzn-SageMaker-Target-Variant"
INVOKED_VARIANT = "x-Amzn-Invoked-Production-Variant"


def attributes_fit(value: str) -> bool:
    """Whether a Custom-Attributes value is within SageMaker's limit (checked at every door):
    printable US-ASCII, so that no line break or NUL can reach a header forwarded further."""
    return len(value) <= MAX_CUSTOM_ATTRIBUTES and value.isascii() and value.isprintable()
