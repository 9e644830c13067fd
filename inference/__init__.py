"""The request path of sm-detect: decode -> preprocess -> model -> postprocess -> encode.

Importable as a SageMaker entry point: ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``.
"""

from inference.handler import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]
