"""The SageMaker execution role: given, or found among the account's roles."""

import json
from collections.abc import Iterable
from typing import Any

from scripts.lib.cloud.aws import Aws
from scripts.lib.errors import CommandError

SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"

# What the endpoint's role needs: read the model archive, pull the image, write logs and metrics.
LEAST_PRIVILEGE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::BUCKET/PREFIX/*"},
        {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
        {
            "Effect": "Allow",
            "Action": [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            "Resource": "arn:aws:ecr:REGION:ACCOUNT:repository/sm-detect",
        },
        {
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
                "cloudwatch:PutMetricData",
            ],
            "Resource": "*",
        },
    ],
}
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": SAGEMAKER_PRINCIPAL},
            "Action": "sts:AssumeRole",
        }
    ],
}


def trusts_sagemaker(role: dict[str, Any]) -> bool:
    document = role.get("AssumeRolePolicyDocument") or {}
    if isinstance(document, str):
        document = json.loads(document)
    for statement in document.get("Statement", []):
        services = statement.get("Principal", {}).get("Service", [])
        services = [services] if isinstance(services, str) else services
        if statement.get("Effect") == "Allow" and SAGEMAKER_PRINCIPAL in services:
            return True
    return False


def find_execution_role(aws: Aws) -> str:
    """The ARN of a role SageMaker can assume, preferring SageMaker's own naming."""
    candidates = []
    for page in aws.client("iam").get_paginator("list_roles").paginate():
        candidates += [role for role in page.get("Roles", []) if trusts_sagemaker(role)]
    if not candidates:
        raise CommandError(
            "no SageMaker execution role found",
            remedy="role",
            detail="\n  aws iam create-role --role-name sm-detect-endpoint "
            f"--assume-role-policy-document '{json.dumps(TRUST_POLICY)}'\n"
            "  aws iam put-role-policy --role-name sm-detect-endpoint --policy-name sm-detect "
            f"--policy-document '{json.dumps(LEAST_PRIVILEGE_POLICY)}'\n"
            "(replace BUCKET/PREFIX, REGION and ACCOUNT)",
        )
    candidates.sort(key=lambda role: ("SageMaker" not in role["RoleName"], role["RoleName"]))
    return candidates[0]["Arn"]


S3_INPUT_POLICY = "sm-detect-s3-input"


def s3_input_policy(buckets: Iterable[str]) -> dict[str, Any]:
    """Read access to the objects of ``buckets``: what an endpoint needs for images from S3."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/*" for bucket in sorted(buckets)],
            }
        ],
    }


def grant_s3_input(aws: Aws, role_arn: str, buckets: Iterable[str]) -> None:
    """Let the role read the objects of ``buckets`` (an inline policy of its own, replaced on
    each deploy so that it names exactly the buckets the endpoint lists)."""
    aws.client("iam").put_role_policy(
        RoleName=role_arn.rsplit("/", 1)[-1],
        PolicyName=S3_INPUT_POLICY,
        PolicyDocument=json.dumps(s3_input_policy(buckets)),
    )
