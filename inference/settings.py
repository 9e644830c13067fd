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
from collections.abc import Mapping

from inference import decode, params
from inference.errors import RequestError

MAX_PIXELS_VARIABLE = "SM_DETECT_MAX_PIXELS"
MAX_DETECTIONS_VARIABLE = "SM_DETECT_MAX_DETECTIONS"
CLASSES_VARIABLE = "SM_DETECT_CLASSES"


class ConfigurationError(ValueError):
    """A setting that cannot work: ``str()`` is the one line to show."""

    def __init__(self, variable: str, value: str, allowed: str):
        super().__init__(f"{variable}={value!r} is not valid: {allowed}")
        self.variable = variable


@dataclasses.dataclass(frozen=True)
class RequestSettings:
    """Each request's defaults, and the decoder's pixel limit."""

    defaults: params.RequestParams = dataclasses.field(default_factory=params.RequestParams)
    max_pixels: int = decode.DEFAULT_MAX_PIXELS

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "RequestSettings":
        """Read ``environ``; ``ConfigurationError`` on the first bad value."""
        read = Reader(environ)
        values = {}
        for attribute in params.ATTRIBUTES:
            value = environ.get(attribute.variable)
            if not value:
                continue
            try:
                values[attribute.name] = attribute.parse(value)
            except RequestError as error:
                raise ConfigurationError(attribute.variable, value, error.message) from None
        return cls(
            defaults=dataclasses.replace(params.RequestParams(), **values),
            max_pixels=read.whole(MAX_PIXELS_VARIABLE, decode.DEFAULT_MAX_PIXELS, minimum=1),
        )


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

    def __init__(self, environ):
        self.environ = environ

    def text(self, name, default):
        return self.environ.get(name) or default

    def whole(self, name, default, minimum, maximum=None):
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

    def choice(self, name, allowed, default, normalize=str):
        given = self.environ.get(name) or default
        if normalize(given) not in allowed:
            raise ConfigurationError(name, given, "one of " + ", ".join(allowed))
        return normalize(given)
