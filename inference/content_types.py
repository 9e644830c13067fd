"""The media types the request path reads and writes."""

JPEG = "image/jpeg"
PNG = "image/png"
ANY_IMAGE = "application/x-image"
NPY = "application/x-npy"
JSON = "application/json"
JSONLINES = "application/jsonlines"
ANY = "*/*"

REQUEST_TYPES = (JPEG, PNG, ANY_IMAGE, NPY, JSON)
RESPONSE_TYPES = (JSON, JSONLINES, NPY, JPEG, PNG)


def base(media_type):
    """``'image/jpeg; q=0.9'`` -> ``'image/jpeg'``; ``None`` -> ``''``."""
    return (media_type or "").split(";", 1)[0].strip().lower()
