"""Servers on this machine: ``serve`` lays out a model as SageMaker does and runs the image's
entrypoint; ``processes`` starts and stops servers for the benchmark and the tests."""
