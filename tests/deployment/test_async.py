"""Asynchronous inference, scale-to-zero and data capture, against moto and a real server.

boto3's own ``invoke_endpoint_async`` goes through the local runtime twin (``sm-detect gateway
--async-output``) in front of a real server; the twin reads the image from moto's S3 and writes
the answer, or the error, back to it, where the test reads it as a user would.
"""

import base64
import json
import os
import re
import threading
import time

import boto3
import numpy as np
import psutil
import pytest

from inference.headers import CUSTOM_ATTRIBUTES
from tests.helpers import (
    AWS_REGION,
    cli,
    encode_image,
    png_declaring,
    tiff_with_strip_offsets_of_type,
)
from tests.servers import post_image, start_gateway

pytestmark = [pytest.mark.aws, pytest.mark.server]
BUCKET = "async-bucket"
CRAFTED_TIFF = tiff_with_strip_offsets_of_type(np.zeros((24, 32, 3), np.uint8), 5)
ENDPOINT = "yolo-async"


def client(service):
    return boto3.client(service, region_name=AWS_REGION)


def read_when_there(bucket, key, timeout=120):
    """An object's bytes, waited for: the twin writes it after answering 202."""
    s3 = client("s3")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            time.sleep(0.2)
    raise AssertionError(f"s3://{bucket}/{key} never appeared")


@pytest.fixture(scope="module")
def async_twin(server, moto, tmp_path_factory):
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # pragma: allowlist secret
        "AWS_DEFAULT_REGION": AWS_REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    boto3.client(
        "s3",
        region_name=AWS_REGION,
        endpoint_url=moto.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # pragma: allowlist secret
    ).create_bucket(Bucket=BUCKET)
    running = start_gateway(
        server.url,
        tmp_path_factory.mktemp("async-twin"),
        ENDPOINT,
        AWS_REGION,
        [
            "--async-output",
            f"s3://{BUCKET}/answers/",
            "--async-failure",
            f"s3://{BUCKET}/failures/",
        ],
        env=env,
    )
    yield running
    running.stop()


def runtime(twin):
    return boto3.client(
        "sagemaker-runtime", region_name=AWS_REGION, endpoint_url=twin.url, verify=twin.cert
    )


def test_boto3_invoke_endpoint_async_end_to_end(aws_env, async_twin, server, astronaut_jpeg):
    client("s3").put_object(Bucket=BUCKET, Key="inputs/astronaut.jpg", Body=astronaut_jpeg)
    queued = runtime(async_twin).invoke_endpoint_async(
        EndpointName=ENDPOINT,
        InputLocation=f"s3://{BUCKET}/inputs/astronaut.jpg",
        ContentType="image/jpeg",
        Accept="application/json",
        CustomAttributes="threshold=0",
        InferenceId="caller-chosen-id",
    )
    assert queued["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert queued["InferenceId"] == "caller-chosen-id"
    assert queued["OutputLocation"] == f"s3://{BUCKET}/answers/caller-chosen-id.out"
    assert queued["FailureLocation"] == f"s3://{BUCKET}/failures/caller-chosen-id-error.out"
    answer = json.loads(read_when_there(BUCKET, "answers/caller-chosen-id.out"))
    # the same request, sent straight to the server
    direct = server_answer(server, astronaut_jpeg, "threshold=0")
    assert answer == direct
    assert answer["detections"]


def server_answer(server, body, attributes):
    response = post_image(server, body, **{CUSTOM_ATTRIBUTES: attributes})
    assert response.status_code == 200
    return response.json()


def test_a_bad_image_ends_at_the_failure_location(aws_env, async_twin):
    client("s3").put_object(Bucket=BUCKET, Key="inputs/not-an-image.jpg", Body=b"plain text")
    queued = runtime(async_twin).invoke_endpoint_async(
        EndpointName=ENDPOINT,
        InputLocation=f"s3://{BUCKET}/inputs/not-an-image.jpg",
        ContentType="image/jpeg",
    )
    key = queued["FailureLocation"].removeprefix(f"s3://{BUCKET}/")
    failure = json.loads(read_when_there(BUCKET, key))
    assert failure["error"]["code"] == "InvalidInput"
    answers = client("s3").list_objects_v2(Bucket=BUCKET, Prefix="answers/").get("Contents", [])
    assert f"answers/{queued['InferenceId']}.out" not in [item["Key"] for item in answers]


def test_an_input_over_the_containers_limit_fails_unread(aws_env, async_twin):
    # 8 jobs on a 64 MB object: read whole, they would hold hundreds of MB in the twin
    client("s3").put_object(Bucket=BUCKET, Key="inputs/huge.jpg", Body=os.urandom(64 << 20))
    twin = psutil.Process(async_twin.process.pid)
    before, peak = twin.memory_info().rss, [0]
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            peak[0] = max(peak[0], twin.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        queued = [
            runtime(async_twin).invoke_endpoint_async(
                EndpointName=ENDPOINT,
                InputLocation=f"s3://{BUCKET}/inputs/huge.jpg",
                ContentType="image/jpeg",
            )
            for _ in range(8)
        ]
        failures = [
            json.loads(
                read_when_there(BUCKET, job["FailureLocation"].removeprefix(f"s3://{BUCKET}/"))
            )
            for job in queued
        ]
    finally:
        sampling.set()
        sampler.join()
    assert {failure["error"]["code"] for failure in failures} == {"PayloadTooLarge"}
    assert "more than the container's payload limit" in failures[0]["error"]["message"]
    grown = (peak[0] - before) / 2**20
    print(f"8 async jobs on a 64 MiB input: the twin grew by {grown:.1f} MiB")
    assert grown < 48


def test_a_missing_input_object_is_a_failure_too(aws_env, async_twin):
    queued = runtime(async_twin).invoke_endpoint_async(
        EndpointName=ENDPOINT, InputLocation=f"s3://{BUCKET}/inputs/nothing-here.jpg"
    )
    key = queued["FailureLocation"].removeprefix(f"s3://{BUCKET}/")
    assert b"nothing-here.jpg" in read_when_there(BUCKET, key)


def test_an_inline_body_and_a_bad_request(aws_env, async_twin, photos):
    small = encode_image(photos["coffee"][:64, :64], "PNG")
    queued = runtime(async_twin).invoke_endpoint_async(
        EndpointName=ENDPOINT, Body=small, ContentType="image/png"
    )
    key = queued["OutputLocation"].removeprefix(f"s3://{BUCKET}/")
    assert json.loads(read_when_there(BUCKET, key))["image"] == {"width": 64, "height": 64}
    with pytest.raises(client("sagemaker-runtime").exceptions.ValidationError):
        runtime(async_twin).invoke_endpoint_async(EndpointName=ENDPOINT, ContentType="image/png")


def invoke_async(twin, env, prefix, *options):
    """`sm-detect invoke --async` through the twin, images uploaded under ``prefix``."""
    return cli(
        "invoke",
        "--endpoint",
        ENDPOINT,
        "--region",
        AWS_REGION,
        "--endpoint-url",
        twin.url,
        "--ca-bundle",
        twin.cert,
        "--async",
        "--input-prefix",
        f"s3://{BUCKET}/{prefix}/",
        *options,
        env=env,
    )


def test_invoke_async_command(aws_env, async_twin, astronaut_jpeg, tmp_path):
    image = tmp_path / "astronaut.jpg"
    image.write_bytes(astronaut_jpeg)
    drawn = tmp_path / "boxes.png"
    result = invoke_async(
        async_twin,
        aws_env,
        "uploads",
        "--threshold",
        "0",
        "--max-detections",
        "5",
        "--draw",
        str(drawn),
        str(image),
    )
    assert result.returncode == 0, result.stderr
    assert "5 detection(s) in 512x512" in result.stdout
    assert "queued as" in result.stderr and "uploading to" in result.stderr
    assert drawn.read_bytes().startswith(b"\x89PNG")
    uploads = client("s3").list_objects_v2(Bucket=BUCKET, Prefix="uploads/")["Contents"]
    assert len(uploads) == 1  # uploaded once for both answers
    assert client("s3").get_object(Bucket=BUCKET, Key=uploads[0]["Key"])["Body"].read() == (
        astronaut_jpeg
    )


def test_invoke_async_reports_the_failure_in_one_line(aws_env, async_twin, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    result = invoke_async(async_twin, aws_env, "uploads-bad", str(bad))
    assert result.returncode == 1
    assert "the endpoint could not answer" in result.stderr and "InvalidInput" in result.stderr
    assert "Traceback" not in result.stderr


def deploy(aws_env, name, *options):
    return cli(
        "deploy",
        "--endpoint",
        name,
        "--model-data",
        f"s3://{BUCKET}/model.tar.gz",
        "--image",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/sm-detect:v1",
        "--poll-seconds",
        "0.1",
        *options,
        env=aws_env,
    )


def endpoint_config(name):
    sagemaker = client("sagemaker")
    config_name = sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    return sagemaker.describe_endpoint_config(EndpointConfigName=config_name)


def test_deploy_asynchronous_with_data_capture(aws_env, execution_role):
    result = deploy(
        aws_env,
        "yolo-async-deployed",
        "--async-output",
        f"s3://{BUCKET}/async-out/",
        "--async-failure",
        f"s3://{BUCKET}/async-failed/",
        "--async-max-concurrency",
        "2",
        "--sns-success",
        "arn:aws:sns:us-east-1:123456789012:done",
        "--sns-error",
        "arn:aws:sns:us-east-1:123456789012:failed",
        "--data-capture",
        f"s3://{BUCKET}/captured/",
        "--capture-percent",
        "20",
    )
    assert result.returncode == 0, result.stderr
    config = endpoint_config("yolo-async-deployed")
    assert config["AsyncInferenceConfig"] == {
        "OutputConfig": {
            "S3OutputPath": f"s3://{BUCKET}/async-out/",
            "S3FailurePath": f"s3://{BUCKET}/async-failed/",
            "NotificationConfig": {
                "SuccessTopic": "arn:aws:sns:us-east-1:123456789012:done",
                "ErrorTopic": "arn:aws:sns:us-east-1:123456789012:failed",
            },
        },
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2},
    }
    capture = config["DataCaptureConfig"]
    assert capture["EnableCapture"] is True
    assert capture["InitialSamplingPercentage"] == 20
    assert capture["DestinationS3Uri"] == f"s3://{BUCKET}/captured/"
    assert {option["CaptureMode"] for option in capture["CaptureOptions"]} == {"Input", "Output"}
    model_name = config["ProductionVariants"][0]["ModelName"]
    environment = client("sagemaker").describe_model(ModelName=model_name)["PrimaryContainer"][
        "Environment"
    ]
    assert environment["SAGEMAKER_MAX_PAYLOAD_IN_MB"] == "128"
    assert environment["SM_DETECT_ENDPOINT_NAME"] == "yolo-async-deployed"


def test_async_options_need_an_output_and_instances(aws_env, execution_role):
    alone = deploy(aws_env, "lonely", "--async-failure", f"s3://{BUCKET}/f/")
    assert alone.returncode == 1 and "need --async-output" in alone.stderr
    serverless = deploy(
        aws_env, "lonely", "--async-output", f"s3://{BUCKET}/o/", "--serverless", "6144:5"
    )
    assert serverless.returncode == 1 and "drop --serverless" in serverless.stderr
    bad_uri = deploy(aws_env, "lonely", "--async-output", "bucket/prefix")
    assert bad_uri.returncode == 1 and "s3://BUCKET/PREFIX" in bad_uri.stderr


def test_scale_an_async_endpoint_to_zero_and_tear_it_down(aws_env, execution_role):
    name = "yolo-async-zero"
    deployed = deploy(aws_env, name, "--async-output", f"s3://{BUCKET}/zero-out/")
    assert deployed.returncode == 0, deployed.stderr
    scaled = cli("scale", "--endpoint", name, "--min", "0", "--max", "3", env=aws_env)
    assert scaled.returncode == 0, scaled.stderr
    autoscaling = client("application-autoscaling")
    resource = f"endpoint/{name}/variant/AllTraffic"
    (target,) = autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource]
    )["ScalableTargets"]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 3)
    policies = {
        policy["PolicyType"]: policy
        for policy in autoscaling.describe_scaling_policies(
            ServiceNamespace="sagemaker", ResourceId=resource
        )["ScalingPolicies"]
    }
    tracking = policies["TargetTrackingScaling"]["TargetTrackingScalingPolicyConfiguration"]
    metric = tracking["CustomizedMetricSpecification"]
    assert metric["MetricName"] == "ApproximateBacklogSizePerInstance"
    assert metric["Namespace"] == "AWS/SageMaker"
    assert metric["Dimensions"] == [{"Name": "EndpointName", "Value": name}]
    step = policies["StepScaling"]
    assert step["StepScalingPolicyConfiguration"]["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}
    ]
    (alarm,) = client("cloudwatch").describe_alarms(AlarmNamePrefix=name)["MetricAlarms"]
    assert alarm["MetricName"] == "HasBacklogWithoutCapacity"
    assert alarm["Dimensions"] == [{"Name": "EndpointName", "Value": name}]
    assert alarm["AlarmActions"] == [step["PolicyARN"]]

    removed = cli("teardown", "--endpoint", name, env=aws_env)
    assert removed.returncode == 0, removed.stderr
    assert (
        autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])[
            "ScalableTargets"
        ]
        == []
    )
    assert client("cloudwatch").describe_alarms(AlarmNamePrefix=name)["MetricAlarms"] == []


def test_a_real_time_endpoint_cannot_scale_to_zero(aws_env, execution_role):
    name = "yolo-real-time"
    assert deploy(aws_env, name).returncode == 0
    result = cli("scale", "--endpoint", name, "--min", "0", env=aws_env)
    assert result.returncode == 1
    assert "only an asynchronous endpoint" in result.stderr


def capture_line(event_id, when, request_type, request, answer_type, answer):
    """One line of a capture file, as SageMaker's documentation shows them."""

    def captured(mode, content_type, data):
        if "json" in content_type:
            return {
                "observedContentType": content_type,
                "mode": mode,
                "data": data.decode(),
                "encoding": "JSON",
            }
        return {
            "observedContentType": content_type,
            "mode": mode,
            "data": base64.b64encode(data).decode(),
            "encoding": "BASE64",
        }

    return json.dumps(
        {
            "captureData": {
                "endpointInput": captured("INPUT", request_type, request),
                "endpointOutput": captured("OUTPUT", answer_type, answer),
            },
            "eventMetadata": {"eventId": event_id, "inferenceTime": when},
            "eventVersion": "0",
        }
    )


def test_captures_become_a_folder_of_images(aws_env, photos, tmp_path):
    jpeg = encode_image(photos["astronaut"], "JPEG")
    png = encode_image(photos["coffee"], "PNG")
    answer = json.dumps({"model": "m", "image": {}, "detections": []}).encode()
    old = capture_line(
        "old-event", "2026-11-30T23:00:00Z", "image/jpeg", jpeg, "application/json", answer
    )
    new_lines = "\n".join(
        [
            capture_line(
                "1f0c-new", "2026-12-01T10:00:05Z", "image/jpeg", jpeg, "application/json", answer
            ),
            capture_line(
                "2a9d-new",
                "2026-12-01T10:00:09Z",
                "application/x-image",
                png,
                "image/png",
                png,
            ),
            capture_line(
                "3b11-text",
                "2026-12-01T10:00:11Z",
                "text/plain",
                b"hello",
                "application/json",
                answer,
            ),
        ]
    )
    s3 = client("s3")
    s3.create_bucket(Bucket="capture-bucket")
    base = "captured/yolo/AllTraffic"
    s3.put_object(Bucket="capture-bucket", Key=f"{base}/2026/11/30/23/00-00-000-a.jsonl", Body=old)
    s3.put_object(
        Bucket="capture-bucket", Key=f"{base}/2026/12/01/10/00-05-000-b.jsonl", Body=new_lines
    )
    output = tmp_path / "calibration"
    result = cli(
        "captures",
        "s3://capture-bucket/captured/",
        "--output",
        str(output),
        "--since",
        "2026-12-01",
        env=aws_env,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in output.iterdir()) == [
        "1f0c-new.jpg",
        "1f0c-new.json",
        "2a9d-new.png",
    ]
    assert (output / "1f0c-new.jpg").read_bytes() == jpeg
    assert (output / "2a9d-new.png").read_bytes() == png
    assert json.loads((output / "1f0c-new.json").read_text()) == json.loads(answer)
    assert "skipped 1 captured event(s): requests the decoder refuses (InvalidInput)" in (
        result.stderr
    )

    everything = cli(
        "captures", "s3://capture-bucket/captured/", "-o", str(tmp_path / "all"), env=aws_env
    )
    assert everything.returncode == 0, everything.stderr
    assert (tmp_path / "all" / "old-event.jpg").exists()


def test_bad_capture_lines_are_skipped_and_counted_the_rest_kept(aws_env, photos, tmp_path):
    jpeg = encode_image(photos["chelsea"], "JPEG")
    answer = json.dumps({"detections": []}).encode()

    def line(event_id, request_type="image/jpeg", request=jpeg):
        return capture_line(
            event_id, "2026-12-01T10:00:00Z", request_type, request, "application/json", answer
        )

    bad_base64 = json.loads(line("bad-base64"))
    bad_base64["captureData"]["endpointInput"]["data"] = "!!not base64!!"
    null_type = json.loads(line("null-type"))
    null_type["captureData"]["endpointInput"]["observedContentType"] = None
    lines = [
        line("a/b").encode(),
        line("a_b").encode(),
        line("bomb", "image/png", png_declaring(30000, 30000)).encode(),  # 900 megapixels
        line("crafted", "image/tiff", CRAFTED_TIFF).encode(),
        json.dumps(bad_base64).encode(),
        line(12345).encode(),
        line(["a", "list"]).encode(),
        line("x" * 5000).encode(),
        json.dumps(null_type).encode(),
        b'["a", "json", "list"]',
        b'{"eventMetadata": "\xff\xfe not utf-8"}',
        line("kept").encode(),
    ]
    s3 = client("s3")
    s3.create_bucket(Bucket="bad-capture-bucket")
    s3.put_object(
        Bucket="bad-capture-bucket",
        Key="captured/e/v/2026/12/01/10/x.jsonl",
        Body=b"\n".join(lines),
    )
    output = tmp_path / "out"
    result = cli("captures", "s3://bad-capture-bucket/captured/", "-o", str(output), env=aws_env)
    assert result.returncode == 0, result.stderr
    images = sorted(path.name for path in output.glob("*.jpg"))
    assert len(images) == 3 and "kept.jpg" in images and "a_b.jpg" in images
    assert any(name.startswith("a_b-") for name in images)  # a/b, apart from a_b
    skipped = {
        reason: int(count)
        for count, reason in re.findall(r"skipped (\d+) captured event\(s\): (.*)", result.stderr)
    }
    assert skipped == {
        "requests the decoder refuses (PayloadTooLarge)": 1,
        "requests the decoder refuses (InvalidInput)": 1,
        "data that is not valid base64": 1,
        "event ids that are not strings of 1 to 200 characters": 3,
        "events without a request and its content type": 1,
        "lines that are not JSON objects": 1,
        "lines that are not UTF-8": 1,
    }
    assert "wrote 3 image(s) and 3 answer(s)" in result.stderr


def test_deploy_a_multi_model_endpoint_over_a_prefix(aws_env, execution_role):
    result = cli(
        "deploy",
        "--endpoint",
        "many-detectors",
        "--multi-model",
        "--model-data",
        f"s3://{BUCKET}/detectors/",
        "--image",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/sm-detect:v1",
        "--poll-seconds",
        "0.1",
        env=aws_env,
    )
    assert result.returncode == 0, result.stderr
    assert "--target-model NAME.tar.gz" in result.stderr  # how to call it
    sagemaker = client("sagemaker")
    model = endpoint_config("many-detectors")["ProductionVariants"][0]["ModelName"]
    container = sagemaker.describe_model(ModelName=model)["PrimaryContainer"]
    assert container["Mode"] == "MultiModel"
    assert container["ModelDataUrl"] == f"s3://{BUCKET}/detectors/"
    refused = cli(
        "deploy",
        "--endpoint",
        "many-serverless",
        "--multi-model",
        "--serverless",
        "2048:2",
        "--model-data",
        f"s3://{BUCKET}/detectors/",
        "--image",
        "i",
        env=aws_env,
    )
    assert refused.returncode == 1 and "a multi-model endpoint is real-time" in refused.stderr
