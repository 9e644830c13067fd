"""Settings of the request path: each request's defaults and the decoder's pixel limit, read
once per process from the environment, checked, and frozen.

SageMaker configures a container through environment variables; the request path reads the
``SM_DETECT_*`` defaults of the Custom-Attributes parameters (``params.ATTRIBUTES`` names each
one's variable and parser) and ``SM_DETECT_MAX_PIXELS``. The server's own settings (port,
workers, logs) are ``container.settings``'. A value that cannot work is a deployment mistake,
not a request's: it ends start-up with one line that names the variable, the value and what is
allowed.
"""

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from inference import decode, params, sources
from inference.errors import RequestError

MAX_PIXELS_VARIABLE = "SM_DETECT_MAX_PIXELS"
MAX_IMAGES_VARIABLE = "SM_DETECT_MAX_IMAGES"
S3_BUCKETS_VARIABLE = sources.BUCKETS_VARIABLE
S3_MAX_MB_VARIABLE = "SM_DETECT_S3_MAX_MB"
DEFAULT_MAX_IMAGES = 16  # Cloud Vision's images:annotate takes 16 a call
MAX_MAX_IMAGES = 64
DEFAULT_S3_MAX_MB = 15  # Rekognition's limit for an image read from S3
MAX_S3_MAX_MB = 100
MAX_DETECTIONS_VARIABLE = "SM_DETECT_MAX_DETECTIONS"
CLASSES_VARIABLE = "SM_DETECT_CLASSES"


class ConfigurationError(ValueError):
    """A setting that cannot work: ``str()`` is the one line to show."""

    def __init__(self, variable: str, value: str, allowed: str):
        super().__init__(f"{variable}={value!r} is not valid: {allowed}")
        self.variable = variable


@dataclasses.dataclass(frozen=True)
class RequestSettings:
    """Each request's defaults, the decoder's pixel limit (for all of a request's images), the
    images one request may hold, and the S3 buckets images may be read from."""

    defaults: params.RequestParams = dataclasses.field(default_factory=params.RequestParams)
    max_pixels: int = decode.DEFAULT_MAX_PIXELS
    max_images: int = DEFAULT_MAX_IMAGES
    s3: sources.S3Access = dataclasses.field(default_factory=sources.S3Access)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "RequestSettings":
        """Read ``environ``; ``ConfigurationError`` on the first bad value."""
        read = Reader(environ)
        values = {}
        for attribute in params.ATTRIBUTES:
            if attribute.variable is None or not environ.get(attribute.variable):
                continue
            value = environ[attribute.variable]
            try:
                values[attribute.name] = attribute.parse(value)
            except RequestError as error:
                raise ConfigurationError(attribute.variable, value, error.message) from None
        return cls(
            defaults=dataclasses.replace(params.RequestParams(), **values),
            max_pixels=read.whole(MAX_PIXELS_VARIABLE, decode.DEFAULT_MAX_PIXELS, minimum=1),
            max_images=read.whole(MAX_IMAGES_VARIABLE, DEFAULT_MAX_IMAGES, 1, MAX_MAX_IMAGES),
            s3=sources.S3Access(
                buckets=read_buckets(environ.get(S3_BUCKETS_VARIABLE, "")),
                max_bytes=read.whole(S3_MAX_MB_VARIABLE, DEFAULT_S3_MAX_MB, 1, MAX_S3_MAX_MB) << 20,
            ),
        )


def read_buckets(value: str) -> frozenset[str]:
    """``'photos,uploads'`` -> the bucket names; one S3 would not take: ConfigurationError."""
    names = frozenset(name.strip() for name in value.split(",") if name.strip())
    for name in sorted(names):
        if not sources.valid_bucket(name):
            raise ConfigurationError(
                S3_BUCKETS_VARIABLE,
                value,
                f"{name!r} is not an S3 bucket name (3 to 63 of a-z, 0-9, '.' and '-'); "
                "list the buckets images may be read from, separated by commas",
            )
    return names


def check_against_model(settings: "RequestSettings", classes: tuple, post_nms: int) -> None:
    """Endpoint defaults a model (its ``classes``, the ``post_nms`` detections its NMS keeps)
    cannot honour are a deployment mistake: ``ConfigurationError``."""
    cap = settings.defaults.max_detections
    if cap > post_nms:
        raise ConfigurationError(
            MAX_DETECTIONS_VARIABLE,
            str(cap),
            f"at most {post_nms}, the detections this model's NMS keeps",
        )
    unknown = [name for name in settings.defaults.classes if name not in classes]
    if unknown:
        raise ConfigurationError(
            CLASSES_VARIABLE,
            ";".join(settings.defaults.classes),
            f"this model has no class {', '.join(unknown)}; it knows "
            + ", ".join(classes[:10])
            + (", ..." if len(classes) > 10 else ""),
        )


class Reader:
    """Typed reads of an environment mapping; an empty value counts as unset."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def text(self, name: str, default: str) -> str:
        return self.environ.get(name) or default

    def unless_unset(self, name: str, minimum: int) -> int | None:
        """``whole``, or None when ``name`` is not set."""
        return self.whole(name, minimum, minimum) if self.environ.get(name) else None

    def whole(self, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
        value = self.environ.get(name)
        if not value:
            return default
        bounds = f"at least {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        if not value.strip().isdigit():
            raise ConfigurationError(name, value, f"a whole number {bounds}")
        number = int(value)
        if number < minimum or (maximum is not None and number > maximum):
            raise ConfigurationError(name, value, f"a whole number {bounds}")
        return number

    def choice(
        self,
        name: str,
        allowed: Sequence[str],
        default: str,
        normalize: Callable[[str], str] = str,
    ) -> str:
        given = self.environ.get(name) or default
        if normalize(given) not in allowed:
            raise ConfigurationError(name, given, "one of " + ", ".join(allowed))
        return normalize(given)
