"""The REST API itself: ``POST /detect`` integrated with SageMaker's runtime, the preflight,
API Gateway's own errors in the project's shape, and its deployment to the stage."""

import json
from typing import Any

from inference.headers import CUSTOM_ATTRIBUTES, TARGET_MODEL
from scripts.lib.cloud.aws import Aws, get_or_none
from scripts.lib.cloud.names import TAG_KEY
from scripts.lib.cloud.public_api.spec import (
    ALLOWED_HEADERS,
    BINARY_MEDIA_TYPES,
    GATEWAY_ERROR_TEMPLATE,
    GATEWAY_RESPONSES,
    METHOD_STATUSES,
    MODEL_ERROR_TEMPLATE,
    RESPONSE_TYPES,
    RUNTIME_ERROR_TEMPLATE,
    PublicApi,
)
from scripts.lib.progress import say


def rest_api(api: PublicApi) -> str:
    apigateway = api.aws.client("apigateway")
    found = find_rest_api(api.aws, api.endpoint)
    if found:
        present = set(found.get("binaryMediaTypes") or ())
        operations = [
            {"op": "add", "path": "/binaryMediaTypes/" + media_type.replace("/", "~1")}
            for media_type in BINARY_MEDIA_TYPES
            if media_type not in present
        ]
        if found.get("apiKeySource", "HEADER") != api.api_key_source:
            operations.append(
                {"op": "replace", "path": "/apiKeySource", "value": api.api_key_source}
            )
        if operations:
            apigateway.update_rest_api(restApiId=found["id"], patchOperations=operations)
        say(f"updating REST API {api.api_name} ({found['id']})")
        return found["id"]
    created = apigateway.create_rest_api(
        name=api.api_name,
        description=f"sm-detect: the public API of SageMaker endpoint {api.endpoint}",
        binaryMediaTypes=list(BINARY_MEDIA_TYPES),
        apiKeySource=api.api_key_source,
        endpointConfiguration={"types": ["REGIONAL"]},
        tags=api.tags,
    )
    api.made(f"REST API {api.api_name} ({created.get('id', 'API_ID')})")
    return created.get("id", "API_ID")


def detect_resource(api: PublicApi, api_id: str) -> str:
    apigateway = api.aws.client("apigateway")
    if api.aws.dry_run:
        apigateway.create_resource(restApiId=api_id, parentId="ROOT_ID", pathPart="detect")
        return "RESOURCE_ID"
    resources = apigateway.get_resources(restApiId=api_id, limit=500)["items"]
    for resource in resources:
        if resource.get("path") == "/detect":
            return resource["id"]
    root = next(resource["id"] for resource in resources if resource.get("path") == "/")
    return apigateway.create_resource(restApiId=api_id, parentId=root, pathPart="detect")["id"]


def post_method(
    api: PublicApi, api_id: str, resource_id: str, role_arn: str, authorizer_id: str | None
) -> None:
    apigateway = api.aws.client("apigateway")
    replace_method(api.aws, api_id, resource_id, "POST")
    apigateway.put_method(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="POST",
        authorizationType="CUSTOM" if authorizer_id else "NONE",
        **({"authorizerId": authorizer_id} if authorizer_id else {}),
        # with tokens the key is the one the authorizer names for the subject
        apiKeyRequired=True,
        requestParameters={
            "method.request.header.Content-Type": False,
            "method.request.header.Accept": False,
            "method.request.querystring.attributes": False,
            "method.request.querystring.model": False,
        },
    )
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="POST",
        type="AWS",
        integrationHttpMethod="POST",
        uri=(
            f"arn:aws:apigateway:{api.aws.region}:runtime.sagemaker:path//endpoints/"
            f"{api.endpoint}/invocations"
        ),
        credentials=role_arn,
        passthroughBehavior="WHEN_NO_TEMPLATES",
        requestParameters={
            "integration.request.header.Content-Type": "method.request.header.Content-Type",
            "integration.request.header.Accept": "method.request.header.Accept",
            f"integration.request.header.{CUSTOM_ATTRIBUTES}": (
                "method.request.querystring.attributes"
            ),
            # a multi-model endpoint's TargetModel
            f"integration.request.header.{TARGET_MODEL}": "method.request.querystring.model",
        },
    )
    origin = api.cors_headers("method.response.header.")
    for status in METHOD_STATUSES:
        apigateway.put_method_response(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod="POST",
            statusCode=status,
            responseParameters={
                "method.response.header.Content-Type": False,
                **dict.fromkeys(origin, False),
            },
        )
    answers: tuple[tuple[str, str | None, dict[str, str], dict[str, str]], ...] = (
        # the container's answer, as it is (JSON, NPY, or the annotated image)
        (
            "200",
            None,
            {"method.response.header.Content-Type": "integration.response.header.Content-Type"},
            {},
        ),
        ("424", "424", {}, dict.fromkeys(RESPONSE_TYPES, MODEL_ERROR_TEMPLATE)),
        (
            "400",
            r"4([013-9]\d|2[0-35-9])",
            {},
            dict.fromkeys(RESPONSE_TYPES, RUNTIME_ERROR_TEMPLATE),
        ),
        ("502", r"5\d\d", {}, dict.fromkeys(RESPONSE_TYPES, RUNTIME_ERROR_TEMPLATE)),
    )
    for status, pattern, parameters, templates in answers:
        apigateway.put_integration_response(
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod="POST",
            statusCode=status,
            **({"selectionPattern": pattern} if pattern else {}),
            responseParameters={**parameters, **origin},
            **({"responseTemplates": templates} if templates else {}),
        )


def options_method(api: PublicApi, api_id: str, resource_id: str) -> None:
    """The browser's preflight: a mock integration that names the listed origin it came from."""
    apigateway = api.aws.client("apigateway")
    replace_method(api.aws, api_id, resource_id, "OPTIONS")
    apigateway.put_method(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="OPTIONS",
        authorizationType="NONE",
        apiKeyRequired=False,
    )
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="OPTIONS",
        type="MOCK",
        requestTemplates={"application/json": '{"statusCode": 200}'},
    )
    headers = {
        "Access-Control-Allow-Methods": "'POST,OPTIONS'",
        "Access-Control-Allow-Headers": f"'{ALLOWED_HEADERS}'",
        "Access-Control-Max-Age": "'600'",
    }
    apigateway.put_method_response(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="OPTIONS",
        statusCode="200",
        responseParameters={
            f"method.response.header.{name}": False
            for name in (*headers, "Access-Control-Allow-Origin")
        },
    )
    allowed = ", ".join(json.dumps(origin) for origin in api.cors_origins)
    echo = (
        f"#set($allowed = [{allowed}])\n"
        "#set($origin = $input.params().header.get('Origin'))\n"
        "#if($allowed.contains($origin))\n"
        "#set($context.responseOverride.header.Access-Control-Allow-Origin = $origin)\n"
        "#end\n"
    )
    apigateway.put_integration_response(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="OPTIONS",
        statusCode="200",
        responseParameters={
            f"method.response.header.{name}": value for name, value in headers.items()
        },
        responseTemplates={"application/json": echo},
    )


def gateway_responses(api: PublicApi, api_id: str) -> None:
    apigateway = api.aws.client("apigateway")
    for response_type, status, code in GATEWAY_RESPONSES:
        apigateway.put_gateway_response(
            restApiId=api_id,
            responseType=response_type,
            **({"statusCode": status} if status else {}),
            responseParameters={
                **api.cors_headers("gatewayresponse.header."),
                **({"gatewayresponse.header.Retry-After": "'1'"} if status == "429" else {}),
            },
            responseTemplates={"application/json": GATEWAY_ERROR_TEMPLATE % code},
        )


def deploy(api: PublicApi, api_id: str) -> None:
    api.aws.client("apigateway").create_deployment(
        restApiId=api_id, stageName=api.stage, description="sm-detect expose"
    )


def find_rest_api(aws: Aws, endpoint: str) -> dict[str, Any] | None:
    """The REST API ``expose`` made for ``endpoint``, found by its tag."""
    if aws.dry_run:
        return None
    pages = aws.client("apigateway").get_paginator("get_rest_apis").paginate()
    for page in pages:
        for api in page.get("items", []):
            if (api.get("tags") or {}).get(TAG_KEY) == endpoint:
                return api
    return None


def replace_method(aws: Aws, api_id: str, resource_id: str, http_method: str) -> None:
    """Delete ``http_method`` if it is there, so that it is put again as this run says."""
    if not aws.dry_run:
        get_or_none(
            aws.client("apigateway").delete_method,
            restApiId=api_id,
            resourceId=resource_id,
            httpMethod=http_method,
        )
