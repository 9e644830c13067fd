"""boto3 clients whose answers are pinned with botocore's Stubber (checked against the service
model), for the AWS calls moto does not hold; and the answers these tests pin most."""

import datetime

import boto3
from botocore.stub import ANY, Stubber

from tests.helpers import AWS_REGION

ENDPOINT_ARN = "arn:aws:sagemaker:us-east-1:1:endpoint/yolo"


def stubbed_client(service):
    """(client, its Stubber), with throwaway keys: no call leaves the process."""
    client = boto3.client(
        service, region_name=AWS_REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def endpoint_description(status, config="old", **extra):
    """DescribeEndpoint's answer for endpoint ``yolo``, serving ``config``."""
    now = datetime.datetime(2026, 1, 1)
    return {
        "EndpointName": "yolo",
        "EndpointArn": ENDPOINT_ARN,
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": now,
        "LastModifiedTime": now,
        **extra,
    }


def stub_update_endpoint(stubber, **expected):
    """UpdateEndpoint of ``yolo`` to a new configuration, with the ``expected`` parameters."""
    stubber.add_response(
        "update_endpoint",
        {"EndpointArn": ENDPOINT_ARN},
        {"EndpointName": "yolo", "EndpointConfigName": ANY, **expected},
    )
