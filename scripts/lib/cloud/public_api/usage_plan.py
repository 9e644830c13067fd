"""Who may call how often: the usage plan (rate, burst, daily quota per key), the API's key with
API keys, and each token subject's usage key with tokens."""

import hashlib
from typing import Any

from scripts.lib.authorizer import token_authorizer
from scripts.lib.cloud.names import resource_name
from scripts.lib.cloud.public_api.spec import PublicApi, find_named


class NoUsagePlan(LookupError):
    """The endpoint's API has no usage plan: ``expose --auth token`` has not been run."""


def usage_plan(api: PublicApi, api_id: str) -> str:
    """The usage plan: rate, burst and daily quota for each key; returns its id."""
    apigateway = api.aws.client("apigateway")
    throttle = {"rateLimit": float(api.rate), "burstLimit": int(api.burst)}
    quota = {"limit": int(api.quota), "period": "DAY"} if api.quota else None
    plan = find_plan(api)
    if plan is None:
        created = apigateway.create_usage_plan(
            name=api.api_name,
            description=f"sm-detect: callers of {api.endpoint}",
            apiStages=[{"apiId": api_id, "stage": api.stage}],
            throttle=throttle,
            **({"quota": quota} if quota else {}),
            tags=api.tags,
        )
        api.made(f"usage plan {api.api_name}")
        return created.get("id", "USAGE_PLAN_ID")
    operations = [
        {"op": "replace", "path": "/throttle/rateLimit", "value": f"{api.rate:g}"},
        {"op": "replace", "path": "/throttle/burstLimit", "value": str(api.burst)},
    ]
    if quota:
        operations += [
            {"op": "replace", "path": "/quota/limit", "value": str(api.quota)},
            {"op": "replace", "path": "/quota/period", "value": "DAY"},
        ]
    apigateway.update_usage_plan(usagePlanId=plan["id"], patchOperations=operations)
    stages = {(s["apiId"], s["stage"]) for s in plan.get("apiStages", [])}
    if (api_id, api.stage) not in stages:
        apigateway.update_usage_plan(
            usagePlanId=plan["id"],
            patchOperations=[{"op": "add", "path": "/apiStages", "value": f"{api_id}:{api.stage}"}],
        )
    return plan["id"]


def find_plan(api: PublicApi) -> dict[str, Any] | None:
    if api.aws.dry_run:
        return None
    apigateway = api.aws.client("apigateway")
    return find_named(apigateway.get_usage_plans(limit=500), api.api_name)


def api_key(api: PublicApi, plan_id: str) -> tuple[str, str | None]:
    """The API's key (api-key auth), in the usage plan; (key id, key value)."""
    return plan_key(api, plan_id, api.api_name)


def register_caller(api: PublicApi, subject: str, signing_secret: str) -> tuple[str, str | None]:
    """The usage key the authorizer names for ``subject`` (token auth), in the usage plan."""
    plan = find_plan(api)
    if plan is None:
        raise NoUsagePlan(f"the public API of {api.endpoint} has no usage plan")
    digest = hashlib.sha256(subject.encode()).hexdigest()[:12]
    return plan_key(
        api,
        plan["id"],
        resource_name(api.endpoint, f"caller-{digest}"),
        value=token_authorizer.usage_key(subject, signing_secret),
        description=f"sm-detect: the usage key of token subject {subject[:200]!r}",
    )


def plan_key(
    api: PublicApi,
    plan_id: str,
    name: str,
    value: str | None = None,
    description: str | None = None,
) -> tuple[str, str | None]:
    """An API key called ``name`` (with ``value``, if given), attached to the plan."""
    apigateway = api.aws.client("apigateway")
    key = (
        None
        if api.aws.dry_run
        else find_named(
            apigateway.get_api_keys(nameQuery=name, includeValues=True, limit=500), name
        )
    )
    if key is None:
        key = apigateway.create_api_key(
            name=name,
            enabled=True,
            tags=api.tags,
            **({"value": value} if value else {}),
            **({"description": description} if description else {}),
        ) or {"id": "API_KEY_ID"}
        api.made(f"API key {name}")
    if api.aws.dry_run:
        apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId="API_KEY_ID", keyType="API_KEY")
        return "API_KEY_ID", None
    attached = apigateway.get_usage_plan_keys(usagePlanId=plan_id, limit=500).get("items", [])
    if key["id"] not in {item["id"] for item in attached}:
        apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId=key["id"], keyType="API_KEY")
    return key["id"], key.get("value")
