"""The request path of sm-detect: decode -> preprocess -> model -> postprocess -> encode.

Importable as a SageMaker entry point: ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``.
They are loaded when first asked for (PEP 562), so that a module of the package (its error
shape, its media types) can be imported without MXNet.
"""

HANDLERS = ("input_fn", "model_fn", "output_fn", "predict_fn")
__all__ = list(HANDLERS)


def __getattr__(name: str) -> object:
    if name in HANDLERS:
        from inference import handler

        return getattr(handler, name)
    raise AttributeError(f"module 'inference' has no attribute {name!r}")
