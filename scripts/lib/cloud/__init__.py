"""The AWS resources of a deployment: S3, ECR, the SageMaker model, endpoint and its scaling,
batch transform, captured traffic, the public API, and their teardown, all reached through
``aws`` (the one place clients are built)."""
