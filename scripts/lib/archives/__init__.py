"""Making model archives: the network exported from GluonCV, its detection head rewritten,
quantized to INT8 and measured against FP32, packed reproducibly into model.tar.gz."""
