"""Local stand-ins of AWS's doors, so that every client can be tested without an account:
SageMaker's signed runtime (with asynchronous invocations), the public API's twin, and the demo
page's server."""
