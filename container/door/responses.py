"""Answers in the project's error shape, ``{"error": {"code", "message"}}``, as aiohttp responses.

The front door, the public API's twin and the demo page's server answer their refusals this way;
the signing gateway answers in AWS's shape instead (``scripts.lib.doors.gateway.aws_error``).
"""

from aiohttp import web

from container.door import guard
from inference.errors import error_document


def error_response(status, code, message, headers=None):
    return web.json_response(error_document(code, message), status=status, headers=headers)


@web.middleware
async def json_errors(request, handler):
    """Every error the door raises (aiohttp's 404, 405, ... and the guard's) in our shape."""
    try:
        return await handler(request)
    except guard.Refused as refused:
        return error_response(refused.status, refused.code, refused.message)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = error.reason.replace(" ", "")
        return error_response(error.status, code, error.text or error.reason)
