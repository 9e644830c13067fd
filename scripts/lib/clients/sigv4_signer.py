"""Call a SageMaker endpoint from an app with plain ``requests``, signed by botocore's signer.

    import boto3
    from scripts.lib.clients.sigv4_signer import invoke_endpoint

    with open("dog.jpg", "rb") as image:
        detections = invoke_endpoint("yolo", image.read(), region="us-east-1").json()

Credentials come from boto3's standard chain (environment, profile, SSO, instance role) unless a
``boto3.Session`` is passed; nothing is ever put in code or logs. ``endpoint_url`` and ``verify``
point it at another front door, such as ``sm-detect gateway`` with its self-signed certificate.
"""

from typing import Any

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from inference.headers import CUSTOM_ATTRIBUTES
from scripts.lib.cloud.endpoint import invocations_url

SERVICE = "sagemaker"


def signed_request(
    endpoint: str,
    body: bytes,
    region: str,
    content_type: str = "application/x-image",
    accept: str = "application/json",
    custom_attributes: str | None = None,
    session: boto3.Session | None = None,
    endpoint_url: str | None = None,
) -> requests.PreparedRequest:
    """A ``requests.PreparedRequest`` for InvokeEndpoint, signed with SigV4 for ``region``."""
    session = session or boto3.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("no AWS credentials found in the standard chain")
    url = invocations_url(endpoint, region, endpoint_url)
    headers = {"Content-Type": content_type, "Accept": accept}
    if custom_attributes:
        headers[CUSTOM_ATTRIBUTES] = custom_attributes
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(credentials.get_frozen_credentials(), SERVICE, region).add_auth(request)
    return requests.Request("POST", url, data=body, headers=dict(request.headers)).prepare()


def invoke_endpoint(
    endpoint: str,
    body: bytes,
    region: str,
    timeout: float = 70,
    verify: bool | str = True,
    **options: Any,
) -> requests.Response:
    """Sign and send one image; returns the ``requests.Response`` (``.json()`` for detections)."""
    prepared = signed_request(endpoint, body, region, **options)
    with requests.Session() as http:
        return http.send(prepared, timeout=timeout, verify=verify)
