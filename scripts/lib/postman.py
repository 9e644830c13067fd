"""A Postman collection (v2.1) and environment for an endpoint, signed by Postman's AWS auth.

Secrets live only in the environment's variables (empty, marked secret); the collection refers
to ``{{accessKey}}``, ``{{secretKey}}`` and ``{{sessionToken}}``.
"""

import json
import os
import uuid

from scripts.lib.progress import say
from scripts.lib.signing import runtime_url

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"


def request(name, accept, image_path):
    return {
        "name": name,
        "request": {
            "method": "POST",
            "header": [
                # any image file: the server reads the format from the bytes
                {"key": "Content-Type", "value": "application/x-image"},
                {"key": "Accept", "value": accept},
                {"key": "X-Amzn-SageMaker-Custom-Attributes", "value": "{{customAttributes}}"},
            ],
            "body": {"mode": "file", "file": {"src": image_path or ""}},
            "url": {
                "raw": "{{baseUrl}}/endpoints/{{endpoint}}/invocations",
                "host": ["{{baseUrl}}"],
                "path": ["endpoints", "{{endpoint}}", "invocations"],
            },
        },
    }


def collection(endpoint, region, image_path=None):
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
    return {
        "info": {
            "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{region}/{endpoint}")),
            "name": f"sm-detect {endpoint} ({region})",
            "schema": SCHEMA,
        },
        "auth": {"type": "awsv4", "awsv4": auth},
        "item": [
            request("Detect objects (JSON)", "application/json", image_path),
            request("Detect objects (annotated image)", "image/jpeg", image_path),
        ],
    }


def environment(endpoint, region):
    def variable(key, value="", secret=False):
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
            variable("accessKey", secret=True),
            variable("secretKey", secret=True),
            variable("sessionToken", secret=True),
        ],
        "_postman_variable_scope": "environment",
    }


def write(endpoint, region, directory, image_path=None):
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, document in (
        ("collection", collection(endpoint, region, image_path)),
        ("environment", environment(endpoint, region)),
    ):
        path = os.path.join(directory, f"sm-detect-{endpoint}.postman_{name}.json")
        with open(path, "w", encoding="utf-8") as file:
            json.dump(document, file, indent=2)
        say(f"wrote {path}")
        paths.append(path)
    return paths
