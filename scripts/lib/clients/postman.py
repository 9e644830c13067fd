"""A Postman collection (v2.1) and environment for an endpoint and its public API.

The signed requests use Postman's AWS Signature auth; the public API's use an API key
(``x-api-key``) or a bearer token. Secrets live only in the environment's variables (empty, marked
secret); the collection refers to ``{{accessKey}}``, ``{{secretKey}}``, ``{{sessionToken}}``,
``{{apiKey}}`` and ``{{token}}``. Newman, Postman's command-line runner, runs it in the tests.
"""

import json
import os
import uuid
from typing import Any

from inference.headers import CUSTOM_ATTRIBUTES, TARGET_MODEL, TARGET_VARIANT
from scripts.lib.cloud.endpoint import runtime_url
from scripts.lib.progress import say

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
# any image file: the server reads the format from the bytes
ANY_IMAGE = {"key": "Content-Type", "value": "application/x-image"}


Document = dict[str, Any]  # a part of Postman's collection or environment JSON


def image_body(image_path: str | None) -> Document:
    return {"mode": "file", "file": {"src": image_path or ""}}


def signed_request(name: str, accept: str, image_path: str | None) -> Document:
    return {
        "name": name,
        "request": {
            "method": "POST",
            "header": [
                ANY_IMAGE,
                {"key": "Accept", "value": accept},
                {"key": CUSTOM_ATTRIBUTES, "value": "{{customAttributes}}"},
                {
                    "key": TARGET_MODEL,
                    "value": "{{targetModel}}",
                    "disabled": True,
                    "description": "a multi-model endpoint's model (e.g. site-a.tar.gz): "
                    "enable, and set targetModel",
                },
                {
                    "key": TARGET_VARIANT,
                    "value": "{{targetVariant}}",
                    "disabled": True,
                    "description": "the production variant to answer (e.g. int8), not the one "
                    "its weight would pick: enable, and set targetVariant",
                },
            ],
            "body": image_body(image_path),
            "url": {
                "raw": "{{baseUrl}}/endpoints/{{endpoint}}/invocations",
                "host": ["{{baseUrl}}"],
                "path": ["endpoints", "{{endpoint}}", "invocations"],
            },
        },
    }


def public_request(name: str, auth: Document, image_path: str | None) -> Document:
    """A request to the public API that ``sm-detect expose`` makes (or its local twin)."""
    return {
        "name": name,
        "request": {
            "auth": auth,
            "method": "POST",
            "header": [ANY_IMAGE, {"key": "Accept", "value": "application/json"}],
            "body": image_body(image_path),
            "url": {
                "raw": "{{publicUrl}}?attributes={{customAttributes}}",
                "host": ["{{publicUrl}}"],
                "query": [{"key": "attributes", "value": "{{customAttributes}}"}],
            },
        },
    }


def collection(endpoint: str, region: str, image_path: str | None = None) -> Document:
    auth = [
        {"key": key, "value": value, "type": "string"}
        for key, value in (
            ("accessKey", "{{accessKey}}"),
            ("secretKey", "{{secretKey}}"),
            ("sessionToken", "{{sessionToken}}"),
            ("region", "{{region}}"),
            ("service", "sagemaker"),
        )
    ]
    api_key = {
        "type": "apikey",
        "apikey": [
            {"key": "key", "value": "x-api-key", "type": "string"},
            {"key": "value", "value": "{{apiKey}}", "type": "string"},
            {"key": "in", "value": "header", "type": "string"},
        ],
    }
    bearer = {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}],
    }
    return {
        "info": {
            "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{region}/{endpoint}")),
            "name": f"sm-detect {endpoint} ({region})",
            "schema": SCHEMA,
        },
        "auth": {"type": "awsv4", "awsv4": auth},
        "item": [
            signed_request("Detect objects (JSON)", "application/json", image_path),
            signed_request("Detect objects (annotated image)", "image/jpeg", image_path),
            public_request("Public API with an API key", api_key, image_path),
            public_request("Public API with a bearer token", bearer, image_path),
        ],
    }


def environment(endpoint: str, region: str, public_url: str = "") -> Document:
    def variable(key: str, value: str = "", secret: bool = False) -> Document:
        return {
            "key": key,
            "value": value,
            "type": "secret" if secret else "default",
            "enabled": True,
        }

    return {
        "name": f"sm-detect {endpoint} ({region})",
        "values": [
            variable("baseUrl", runtime_url(region)),
            variable("endpoint", endpoint),
            variable("region", region),
            variable("customAttributes", "threshold=0.5"),
            variable("targetModel"),
            variable("targetVariant"),
            variable("accessKey", secret=True),
            variable("secretKey", secret=True),
            variable("sessionToken", secret=True),
            variable("publicUrl", public_url),
            variable("apiKey", secret=True),
            variable("token", secret=True),
        ],
        "_postman_variable_scope": "environment",
    }


def write(
    endpoint: str,
    region: str,
    directory: str,
    image_path: str | None = None,
    public_url: str = "",
) -> list[str]:
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, document in (
        ("collection", collection(endpoint, region, image_path)),
        ("environment", environment(endpoint, region, public_url)),
    ):
        path = os.path.join(directory, f"sm-detect-{endpoint}.postman_{name}.json")
        with open(path, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2)
        say(f"wrote {path}")
        paths.append(path)
    return paths
