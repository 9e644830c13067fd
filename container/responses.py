"""Answers in the project's error shape, ``{"error": {"code", "message"}}``, as aiohttp responses.

The front door, the public API's twin and the demo page's server answer their refusals this way;
the signing gateway answers in AWS's shape instead (``scripts.lib.gateway.aws_error``).
"""

from aiohttp import web

from inference.errors import error_document


def error_response(status, code, message, headers=None):
    return web.json_response(error_document(code, message), status=status, headers=headers)
