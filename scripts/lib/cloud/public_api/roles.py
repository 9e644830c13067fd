"""The IAM roles of a public API: the one API Gateway runs the integration as, and the
authorizer function's."""

import json
from collections.abc import Mapping
from typing import Any

from scripts.lib.cloud.aws import Aws, get_or_none
from scripts.lib.cloud.names import resource_name
from scripts.lib.cloud.public_api.spec import PublicApi
from scripts.lib.progress import say


def integration_role(api: PublicApi, account: str) -> str:
    """The role API Gateway assumes to call this endpoint, and nothing else."""
    return put_role(
        api.aws,
        resource_name(api.endpoint, "api"),
        "apigateway.amazonaws.com",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sagemaker:InvokeEndpoint",
                    "Resource": api.endpoint_arn(account),
                }
            ],
        },
        api.tags,
    )


def put_role(
    aws: Aws, name: str, service: str, policy: dict[str, Any], tags: Mapping[str, str]
) -> str:
    """A role ``service`` may assume with ``policy`` inline; made or updated. Returns its ARN."""
    iam = aws.client("iam")
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    existing = None if aws.dry_run else get_or_none(iam.get_role, RoleName=name)
    if existing:
        arn = existing["Role"]["Arn"]
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=trust)
    else:
        arn = (
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=trust,
                Description="sm-detect: made by `sm-detect expose`",
                Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
            )
            .get("Role", {})
            .get("Arn", f"arn:aws:iam::ACCOUNT:role/{name}")
        )
    iam.put_role_policy(RoleName=name, PolicyName="sm-detect", PolicyDocument=json.dumps(policy))
    return arn


def delete_role(aws: Aws, name: str) -> None:
    iam = aws.client("iam")
    policies = get_or_none(iam.list_role_policies, RoleName=name)
    if policies is None:
        return
    for policy in policies.get("PolicyNames", []):
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    iam.delete_role(RoleName=name)
    say(f"deleted IAM role {name}")
