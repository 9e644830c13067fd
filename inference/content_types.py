"""The media types the request path reads and writes."""

JPEG = "image/jpeg"
PNG = "image/png"
ANY_IMAGE = "application/x-image"
NPY = "application/x-npy"
JSON = "application/json"
JSONLINES = "application/jsonlines"
COCO = "application/x-coco+json"  # COCO's results list: what evaluation tools read
ANY = "*/*"

# every image/* type of a format the decoder reads (Pillow's names, and the older BMP one)
IMAGE_TYPES = (JPEG, PNG, "image/gif", "image/bmp", "image/x-ms-bmp", "image/tiff", "image/webp")
REQUEST_TYPES = (*IMAGE_TYPES, ANY_IMAGE, NPY, JSON)
RESPONSE_TYPES = (JSON, JSONLINES, NPY, JPEG, PNG, COCO)
BATCH_RESPONSE_TYPES = (JSON, JSONLINES, COCO)  # a batch's answer is text, one part an image


def base(media_type: str | None) -> str:
    """``'image/jpeg; q=0.9'`` -> ``'image/jpeg'``; ``None`` -> ``''``."""
    return (media_type or "").split(";", 1)[0].strip().lower()
