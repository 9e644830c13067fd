"""Calling the detector as users do: ``invoke`` (a server, an endpoint, asynchronously),
SigV4 signing, and the Postman collection."""
