"""The gateway's SigV4 verifier against botocore's own signer, on the cases that once went wrong.

Each request is signed by botocore exactly as boto3 signs InvokeEndpoint, and verified from the
path and query as they go on the wire.
"""

import datetime
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from scripts.lib.doors import sigv4_verifier

REGION = "us-east-1"
KEY, SECRET = "AKIDSIGV4TESTKEY0001", "sigv4-test-secret-not-real"  # pragma: allowlist secret
KEYS = {KEY: sigv4_verifier.Credentials(KEY, SECRET)}
BASE = f"https://runtime.sagemaker.{REGION}.amazonaws.com"


def botocore_signed(url, body=b"image", headers=None, token=None):
    request = AWSRequest(
        method="POST", url=url, data=body, headers={"Content-Type": "image/jpeg", **(headers or {})}
    )
    SigV4Auth(BotocoreCredentials(KEY, SECRET, token), "sagemaker", REGION).add_auth(request)
    prepared = request.prepare()
    # what aiohttp hands the gateway: the headers, the host botocore signed, the raw target
    sent = [("Host", urlsplit(url).netloc), *prepared.headers.items()]
    return prepared, sent


def verify(url, sent, body=b"image", keys=KEYS):
    parts = urlsplit(url)
    return sigv4_verifier.verify("POST", parts.path, parts.query, sent, body, keys, REGION)


@pytest.mark.parametrize("name", ["yolo", "a:b", "it's", "100%", "a/b", "sp ace", "ünï"])
def test_endpoint_names_botocore_escapes(name):
    # boto3 puts EndpointName in the path percent-encoded, a slash included
    url = f"{BASE}/endpoints/{quote(name, safe='')}/invocations"
    _, sent = botocore_signed(url)
    assert verify(url, sent) == KEY


@pytest.mark.parametrize(
    "signed, sent_to",
    [
        ("/endpoints/yolo/invocations", "/endpoints/yol%6F/invocations"),
        ("/endpoints/yolo/invocations", "/endpoints/yolo%2Finvocations"),
        ("/endpoints/yolo/invocations?a=x+y", "/endpoints/yolo/invocations?a=x%20y"),
    ],
)
def test_a_signature_for_one_request_fails_on_another_spelling_of_it(signed, sent_to):
    _, sent = botocore_signed(BASE + signed)
    with pytest.raises(sigv4_verifier.SignatureError, match="does not match"):
        verify(BASE + sent_to, sent)


@pytest.mark.parametrize("query", ["a=x+y", "b=%20c&a=1", "k=v%2Fw&k=a", "flag", "x=*,!"])
def test_queries_as_botocore_signs_them(query):
    url = f"{BASE}/endpoints/yolo/invocations?{query}"
    _, sent = botocore_signed(url)
    assert verify(url, sent) == KEY


def test_the_body_is_hashed_as_sent():
    url = f"{BASE}/endpoints/yolo/invocations"
    _, sent = botocore_signed(url, body=b"\x1f\x8b compressed bytes")
    assert verify(url, sent, body=b"\x1f\x8b compressed bytes") == KEY
    with pytest.raises(sigv4_verifier.SignatureError):
        verify(url, sent, body=b"the same bytes inflated")


def test_a_token_on_a_key_that_has_none_is_refused():
    url = f"{BASE}/endpoints/yolo/invocations"
    _, sent = botocore_signed(url, token="bogus-session-token")
    with pytest.raises(sigv4_verifier.SignatureError) as refused:
        verify(url, sent)
    assert refused.value.code == "UnrecognizedClientException"


def test_a_key_with_a_token_needs_that_token():
    keys = {KEY: sigv4_verifier.Credentials(KEY, SECRET, "the-token")}
    url = f"{BASE}/endpoints/yolo/invocations"
    _, good = botocore_signed(url, token="the-token")
    assert verify(url, good, keys=keys) == KEY
    _, none = botocore_signed(url)
    with pytest.raises(sigv4_verifier.SignatureError):
        verify(url, none, keys=keys)


def test_non_ascii_header_bytes_are_a_refusal_not_a_crash():
    url = f"{BASE}/endpoints/yolo/invocations"
    _, sent = botocore_signed(url)
    # aiohttp hands over undecodable header bytes as surrogate escapes
    forged = [(name, "\udcff" if name == "Host" else value) for name, value in sent]
    with pytest.raises(sigv4_verifier.SignatureError, match="does not match"):
        verify(url, forged)


def test_a_utf8_header_value_is_verified_as_its_bytes():
    url = f"{BASE}/endpoints/yolo/invocations"
    _, sent = botocore_signed(url, headers={"X-Amzn-SageMaker-Custom-Attributes": "classes=dög"})
    # as aiohttp decodes it (UTF-8, surrogate escapes for anything else)
    assert verify(url, sent) == KEY


def test_headers_are_checked_before_the_body():
    url = f"{BASE}/endpoints/yolo/invocations"
    _, sent = botocore_signed(url)
    claim = sigv4_verifier.authorize(sent, KEYS, REGION)
    assert claim.credentials.access_key == KEY and "host" in claim.signed_headers
    for headers, code in (
        ([("Host", "h")], "MissingAuthenticationTokenException"),
        ([("Authorization", "Bearer x")], "IncompleteSignatureException"),
    ):
        with pytest.raises(sigv4_verifier.SignatureError) as refused:
            sigv4_verifier.authorize(headers, KEYS, REGION)
        assert refused.value.code == code
    stale = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
    with pytest.raises(sigv4_verifier.SignatureError, match="Signature expired"):
        sigv4_verifier.authorize(sent, KEYS, REGION, now=stale)
