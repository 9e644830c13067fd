"""Variants, traffic shifts, shadow tests and guarded updates on the AWS side.

Variants, their weights and the rollback alarms run against moto's server (the command line as a
user runs it, the resources read back with boto3). What moto does not hold, a config's
ShadowProductionVariants and UpdateEndpoint's DeploymentConfig, is pinned with botocore's
Stubber, whose stubs are checked against the service model.
"""

import datetime
import json

import boto3
import pytest
from botocore.stub import ANY, Stubber

from scripts.lib.cloud import endpoint, guarded, variants
from scripts.lib.cloud.aws import Aws
from scripts.lib.errors import CommandError
from tests.helpers import AWS_REGION, captured_event, cli
from tests.stubbed_aws import endpoint_description, stub_update_endpoint, stubbed_client

pytestmark = pytest.mark.aws
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sm-detect:v1"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"


def client(service):
    return boto3.client(service, region_name=AWS_REGION)


def deploy(aws_env, name, *options):
    return cli(
        "deploy",
        "--endpoint",
        name,
        "--image",
        IMAGE,
        "--poll-seconds",
        "0.1",
        *options,
        env=aws_env,
    )


def test_two_variants_make_one_config_and_traffic_shifts_them(aws_env, execution_role):
    made = deploy(
        aws_env,
        "yolo-variants",
        "--variant",
        "fp32:80=s3://models/fp32.tar.gz",
        "--variant",
        "int8:20=s3://models/int8.tar.gz",
    )
    assert made.returncode == 0, made.stderr
    assert "traffic: fp32 80%, int8 20%" in made.stderr
    sagemaker = client("sagemaker")
    described = sagemaker.describe_endpoint(EndpointName="yolo-variants")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    weighted = {v["VariantName"]: v["InitialVariantWeight"] for v in config["ProductionVariants"]}
    assert weighted == {"fp32": 80.0, "int8": 20.0}
    for variant in config["ProductionVariants"]:
        container = sagemaker.describe_model(ModelName=variant["ModelName"])["PrimaryContainer"]
        assert container["ModelDataUrl"] == f"s3://models/{variant['VariantName']}.tar.gz"
        assert container["Environment"]["SM_DETECT_VARIANT_NAME"] == variant["VariantName"]

    shifted = cli(
        "traffic",
        "--endpoint",
        "yolo-variants",
        "--weights",
        "fp32=50,int8=50",
        "--poll-seconds",
        "0.1",
        env=aws_env,
    )
    assert shifted.returncode == 0, shifted.stderr
    now = sagemaker.describe_endpoint(EndpointName="yolo-variants")["ProductionVariants"]
    assert {v["VariantName"]: v["CurrentWeight"] for v in now} == {"fp32": 50.0, "int8": 50.0}
    shown = cli("traffic", "--endpoint", "yolo-variants", env=aws_env)
    assert "fp32: weight 50, 50% of requests" in shown.stderr
    assert "int8: weight 50, 50% of requests" in shown.stderr

    unknown = cli("traffic", "--endpoint", "yolo-variants", "--weights", "int4=1", env=aws_env)
    assert unknown.returncode == 1
    assert "has no production variant int4 (it has fp32, int8)" in unknown.stderr


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ["--variant", "a=s3://models/a.tar.gz", "--variant", "a=s3://models/b.tar.gz"],
            "a came twice",
        ),
        (["--variant", "a:0=s3://models/a.tar.gz"], "a weight above 0"),
        (["--variant", "a=m/a.tar.gz"], "takes an s3://BUCKET/PREFIX address"),
        (
            ["--model-data", "s3://models/a.tar.gz", "--shadow", "b=s3://models/b.tar.gz"],
            "add --data-capture",
        ),
        (["--model-data", "s3://models/a.tar.gz", "--bake", "60"], "go with --canary or --linear"),
        (["--model-data", "s3://models/a.tar.gz", "--canary", "10"], "--canary takes --bake"),
        (
            ["--model-data", "s3://models/a.tar.gz", "--canary", "10", "--bake", "60"],
            "yolo-nothing does not exist: deploy it first",
        ),
    ],
    ids=["twice", "no-weight", "not-s3", "no-capture", "bake-alone", "no-bake", "no-endpoint"],
)
def test_rollouts_that_cannot_work_are_one_line(aws_env, execution_role, options, message):
    refused = deploy(aws_env, "yolo-nothing", *options)
    assert refused.returncode == 1
    assert message in refused.stderr and "Traceback" not in refused.stderr


def test_default_rollback_alarms_watch_each_variant_and_teardown_removes_them(aws_env):
    aws = Aws(region=AWS_REGION)
    names = guarded.default_alarms(aws, "yolo-guarded", ["fp32", "int8"], latency_ms=800)
    cloudwatch = client("cloudwatch")
    alarms = {
        alarm["AlarmName"]: alarm
        for alarm in cloudwatch.describe_alarms(AlarmNamePrefix="sm-detect/yolo-guarded/")[
            "MetricAlarms"
        ]
    }
    assert (
        sorted(alarms)
        == sorted(names)
        == [
            "sm-detect/yolo-guarded/fp32/5xx",
            "sm-detect/yolo-guarded/fp32/latency",
            "sm-detect/yolo-guarded/int8/5xx",
            "sm-detect/yolo-guarded/int8/latency",
        ]
    )
    latency = alarms["sm-detect/yolo-guarded/int8/latency"]
    assert (latency["MetricName"], latency["Statistic"]) == ("ModelLatency", "Average")
    assert latency["Threshold"] == 800_000  # ModelLatency is in microseconds
    assert {d["Name"]: d["Value"] for d in latency["Dimensions"]} == {
        "EndpointName": "yolo-guarded",
        "VariantName": "int8",
    }
    errors = alarms["sm-detect/yolo-guarded/fp32/5xx"]
    assert (errors["MetricName"], errors["Statistic"], errors["Threshold"]) == (
        "Invocation5XXErrors",
        "Sum",
        1.0,
    )

    removed = cli("teardown", "--endpoint", "yolo-guarded", env=aws_env)
    assert removed.returncode == 0, removed.stderr
    left = cloudwatch.describe_alarms(AlarmNamePrefix="sm-detect/yolo-guarded/")["MetricAlarms"]
    assert left == []


def stub_models(stubber, count):
    for _ in range(count):
        stubber.add_response("create_model", {"ModelArn": "arn:aws:sagemaker:us-east-1:1:model/m"})


CONFIG_ARN = {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:1:endpoint-config/c"}


def test_a_shadow_variant_gets_its_share_as_a_weight_and_captures_on():
    sagemaker, stubber = stubbed_client("sagemaker")
    stub_models(stubber, 2)
    capture = endpoint.data_capture_config("s3://bucket/captured/")
    stubber.add_response(
        "create_endpoint_config",
        CONFIG_ARN,
        {
            "EndpointConfigName": ANY,
            "Tags": ANY,
            "ProductionVariants": [
                {
                    "VariantName": "fp32",
                    "ModelName": ANY,
                    "InitialVariantWeight": 1.0,
                    "InstanceType": "ml.c5.xlarge",
                    "InitialInstanceCount": 1,
                }
            ],
            "ShadowProductionVariants": [
                {
                    "VariantName": "int8",
                    "ModelName": ANY,
                    "InitialVariantWeight": 0.25,  # a copy of 25% of production's requests
                    "InstanceType": "ml.c5.xlarge",
                    "InitialInstanceCount": 1,
                }
            ],
            "DataCaptureConfig": capture,
        },
    )
    stubber.add_response("describe_endpoint", endpoint_description("InService"))
    stub_update_endpoint(stubber)
    stubber.add_response("describe_endpoint", endpoint_description("InService", "new"))
    with stubber:
        endpoint.deploy(
            Aws(region=AWS_REGION, clients={"sagemaker": sagemaker}),
            endpoint.DeploySpec(
                "yolo",
                (variants.Variant("fp32", 1.0, "s3://models/fp32.tar.gz"),),
                "img",
                role=ROLE,
                poll_seconds=0,
                data_capture=capture,
                shadow=variants.Shadow("int8", "s3://models/int8.tar.gz", 25),
            ),
        )
        stubber.assert_no_pending_responses()


def guarded_deploy(sagemaker, ending, alarms=("mine",)):
    """A canary update of endpoint ``yolo`` whose watch sees ``ending``, a description."""
    sagemaker_stubber = Stubber(sagemaker)
    stub_models(sagemaker_stubber, 1)
    sagemaker_stubber.add_response("create_endpoint_config", CONFIG_ARN)
    sagemaker_stubber.add_response("describe_endpoint", endpoint_description("InService"))
    stub_update_endpoint(
        sagemaker_stubber,
        DeploymentConfig={
            "BlueGreenUpdatePolicy": {
                "TrafficRoutingConfiguration": {
                    "Type": "CANARY",
                    "WaitIntervalInSeconds": 300,
                    "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                }
            },
            "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]},
        },
    )
    phase = {
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "VariantStatus": [
                    {
                        "Status": "Baking",
                        "StatusMessage": "canary serving",
                        "StartTime": datetime.datetime(2026, 12, 3),
                    }
                ],
            }
        ],
        "EndpointConfigName": "new",
    }
    sagemaker_stubber.add_response(
        "describe_endpoint", endpoint_description("Updating", PendingDeploymentSummary=phase)
    )
    sagemaker_stubber.add_response("describe_endpoint", ending)
    return sagemaker_stubber


def run_guarded(sagemaker):
    update = guarded.GuardedUpdate(guarded.CANARY, 10, 300, alarms=("mine",))
    aws = Aws(region=AWS_REGION, clients={"sagemaker": sagemaker})
    endpoint.deploy(
        aws,
        endpoint.DeploySpec(
            "yolo",
            "s3://models/new.tar.gz",
            "img",
            role=ROLE,
            poll_seconds=0,
            guarded_update=update,
        ),
    )


@pytest.fixture
def named_plainly(monkeypatch):
    """The new endpoint configuration is ``new``, for the descriptions to name it."""
    monkeypatch.setattr(endpoint, "unique_name", lambda name, suffix="": "new")


def test_a_guarded_update_shows_its_phases_and_ends_on_the_new_config(capsys, named_plainly):
    sagemaker, _ = stubbed_client("sagemaker")
    stubber = guarded_deploy(sagemaker, endpoint_description("InService", "new"))
    with stubber:
        run_guarded(sagemaker)
        stubber.assert_no_pending_responses()
    said = capsys.readouterr().err
    assert "canary: 1 of 1 new instance(s) (100% of requests) for 300 s" in said
    assert "rolled back if mine fires" in said
    assert "AllTraffic: Baking (canary serving)" in said
    assert "endpoint yolo serves new" in said


def test_a_rolled_back_update_says_so(named_plainly):
    sagemaker, _ = stubbed_client("sagemaker")
    stubber = guarded_deploy(
        sagemaker, endpoint_description("InService", FailureReason="Alarm mine fired: rolled back")
    )
    with stubber, pytest.raises(CommandError, match="rolled the update of yolo back"):
        run_guarded(sagemaker)


def captured_line(event_id, score, when):
    answer = {"detections": [{"class_id": 16, "score": score, "box": BOX}]}
    return json.dumps(captured_event(answer, eventId=event_id, inferenceTime=when))


BOX = {"xmin": 10, "ymin": 10, "xmax": 110, "ymax": 110}


def test_compare_reads_an_endpoints_captures_from_s3_and_its_latency_from_cloudwatch(
    aws_env, tmp_path
):
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    when = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    s3 = client("s3")
    s3.create_bucket(Bucket="captures-bucket")
    hour = now.strftime("%Y/%m/%d/%H")
    for variant, score in (("AllTraffic", 0.9), ("int8", 0.85)):
        lines = [captured_line(f"event-{n}", score, when) for n in range(3)]
        s3.put_object(
            Bucket="captures-bucket",
            Key=f"captured/yolo-shadowed/{variant}/{hour}/00-00-000-x.jsonl",
            Body="\n".join(lines).encode(),
        )
        # SageMaker's ModelLatency, in microseconds: 400 and 200 ms
        client("cloudwatch").put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {
                    "MetricName": "ModelLatency",
                    "Dimensions": [
                        {"Name": "EndpointName", "Value": "yolo-shadowed"},
                        {"Name": "VariantName", "Value": variant},
                    ],
                    "Timestamp": now,
                    "Value": 400_000 if variant == "AllTraffic" else 200_000,
                    "Unit": "Microseconds",
                }
            ],
        )
    report = tmp_path / "compare.json"
    compared = cli(
        "compare",
        "--capture",
        "s3://captures-bucket/captured/",
        "--production",
        "AllTraffic",
        "--shadow",
        "int8",
        "--endpoint",
        "yolo-shadowed",
        "--json",
        str(report),
        env=aws_env,
    )
    assert compared.returncode == 0, compared.stderr
    totals = json.loads(report.read_text())["totals"]
    assert (totals["images"], totals["matched"]) == (3, 3)
    assert totals["max_score_difference"] == pytest.approx(0.05)
    assert "latency of AllTraffic: 400 ms on average over 1 request(s)" in compared.stderr
    assert "latency of int8: 200 ms on average" in compared.stderr


def test_a_variant_without_a_current_weight_counts_as_taking_no_traffic():
    # a variant still being created has no CurrentWeight: shifting every weight away from the
    # others must be refused as sending nothing anywhere, not crash on the missing number
    sagemaker, stubber = stubbed_client("sagemaker")
    stubber.add_response(
        "describe_endpoint",
        endpoint_description(
            "Updating",
            ProductionVariants=[
                {"VariantName": "fp32", "CurrentWeight": 1.0, "CurrentInstanceCount": 1},
                {"VariantName": "int8"},
            ],
        ),
        {"EndpointName": "yolo"},
    )
    with stubber, pytest.raises(CommandError, match="at least one variant needs a weight above 0"):
        variants.set_weights(
            Aws(region=AWS_REGION, clients={"sagemaker": sagemaker}), "yolo", {"fp32": 0.0}
        )
