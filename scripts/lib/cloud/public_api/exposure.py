"""Make, update and remove a public API, one resource at a time, in the order AWS needs them."""

from scripts.lib.cloud.aws import get_or_none
from scripts.lib.cloud.names import TAG_KEY, resource_name, secret_parameter
from scripts.lib.cloud.public_api import authorizer, rest_api, roles, usage_plan
from scripts.lib.cloud.public_api.spec import API_KEY, TOKEN, PublicApi, find_named, invoke_url
from scripts.lib.progress import say


def apply(api: PublicApi, show_key: bool = False) -> tuple[str, str | None, str | None]:
    """Make or update everything; returns (invoke URL, key id or None, key value or None)."""
    account = api.aws.account_id()
    role_arn = roles.integration_role(api, account)
    api_id = rest_api.rest_api(api)
    resource_id = rest_api.detect_resource(api, api_id)
    authorizer_id = authorizer.authorizer(api, api_id, account) if api.auth == TOKEN else None
    rest_api.post_method(api, api_id, resource_id, role_arn, authorizer_id)
    if api.cors_origins:
        rest_api.options_method(api, api_id, resource_id)
    rest_api.gateway_responses(api, api_id)
    rest_api.deploy(api, api_id)
    plan_id = usage_plan.usage_plan(api, api_id)
    key_id = key_value = None
    if api.auth == API_KEY:
        key_id, key_value = usage_plan.api_key(api, plan_id)
    url = invoke_url(api_id, api.aws.region, api.stage)
    say(f"invoke URL: {url}")
    if key_id:
        say(f"API key id: {key_id}" + ("" if show_key else " (its value: --show-key)"))
    return url, key_id, key_value if show_key else None


def remove(api: PublicApi) -> None:
    """Delete what ``apply`` made for this endpoint; say what was there."""
    apigateway, name = api.aws.client("apigateway"), resource_name(api.endpoint, "")
    plan = find_named(apigateway.get_usage_plans(limit=500), name)
    if plan:
        for item in apigateway.get_usage_plan_keys(usagePlanId=plan["id"], limit=500).get(
            "items", []
        ):
            apigateway.delete_usage_plan_key(usagePlanId=plan["id"], keyId=item["id"])
        apigateway.delete_usage_plan(usagePlanId=plan["id"])
        say(f"deleted usage plan {name}")
    # the API's key and its callers' usage keys, all named after it and tagged for it
    for key in apigateway.get_api_keys(nameQuery=name, limit=500).get("items", []):
        if (key.get("tags") or {}).get(TAG_KEY) == api.endpoint:
            apigateway.delete_api_key(apiKey=key["id"])
            say(f"deleted API key {key['name']}")
    found = rest_api.find_rest_api(api.aws, api.endpoint)
    if found:
        apigateway.delete_rest_api(restApiId=found["id"])
        say(f"deleted REST API {name} ({found['id']})")
    function_name = resource_name(api.endpoint, "authorizer")
    lambda_ = api.aws.client("lambda")
    if get_or_none(lambda_.delete_function, FunctionName=function_name) is not None:
        say(f"deleted Lambda function {function_name}")
    parameter = secret_parameter(api.endpoint)
    if get_or_none(api.aws.client("ssm").delete_parameter, Name=parameter) is not None:
        say(f"deleted SecureString {parameter}")
    for role in (resource_name(api.endpoint, "api"), function_name):
        roles.delete_role(api.aws, role)
