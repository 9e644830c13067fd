"""The model server's handler: one function, ``handle``, that MMS calls with each batch.

A function entry point rather than a handler class on purpose: MMS logs and swallows an exception
raised by a class's ``initialize`` and marks the worker ready anyway, whereas an exception from a
function's first call fails the worker, so "worker READY" really means "model loaded".
"""

import json
import logging
import os
import traceback

from sagemaker_inference import environment

from container import readiness
from inference import encode, handler, params
from inference.errors import RequestError

logger = logging.getLogger(__name__)
DEFAULT_ACCEPT = environment.Environment().default_accept
_detector = None


def handle(data, context):
    """Initialise on MMS's first call (``data is None``), then answer each request in ``data``."""
    global _detector
    if data is None:
        _detector = handler.model_fn(context.system_properties.get("model_dir"), context)
        if os.environ.get(readiness.READY_DIR_ENV):
            readiness.mark_ready(os.environ[readiness.READY_DIR_ENV])
        return None
    return [answer(index, item, context) for index, item in enumerate(data)]


def answer(index, item, context):
    headers = {str(k).lower(): v for k, v in context.get_all_request_header(index).items()}
    try:
        accept = encode.negotiate(headers.get("accept"), DEFAULT_ACCEPT)
        request = handler.prepare(
            item.get("body") or item.get("data") or b"",
            headers.get("content-type"),
            headers.get(params.CUSTOM_ATTRIBUTES_HEADER.lower()),
        )
        body, media_type = handler.output_fn(handler.predict_fn(request, _detector), accept)
    except RequestError as error:
        return error_response(context, index, error.status, error.to_dict())
    except Exception as error:  # noqa: BLE001 - the worker must survive whatever happens
        logger.error("request failed: %s\n%s", error, traceback.format_exc())
        return error_response(
            context,
            index,
            500,
            {"error": {"code": "InternalError", "message": f"{type(error).__name__}: {error}"}},
        )
    context.set_response_content_type(index, media_type)
    return body


def error_response(context, index, status, document):
    context.set_response_status(code=status, phrase=document["error"]["code"], idx=index)
    context.set_response_content_type(index, "application/json")
    return json.dumps(document).encode()
