"""The precisions a model archive comes in, named in one light module that the command line
reads without importing MXNet: FP32 as exported, INT8 (oneDNN's integer kernels, calibrated on
images) and BF16 (the trunk in bfloat16, for AMX's tiles)."""

FP32, INT8, BF16 = "fp32", "int8", "bf16"
PRECISIONS = (FP32, INT8, BF16)
