"""The public API's token authorizer: a Lambda function, zipped on its own by ``expose``."""
