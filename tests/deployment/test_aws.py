"""The deployment story against a real API stand-in: moto's server and a real OCI registry.

Every AWS call goes from boto3 to moto on loopback (``AWS_ENDPOINT_URL``); image pushes go to
Debian's docker-registry on loopback. Assertions read the resources moto then holds. What moto
does not implement (UpdateEndpoint, an endpoint that fails) is stubbed at the boto3 layer with
botocore's Stubber, whose stubs are validated against the service model.
"""

import json
import os
import shutil

import boto3
import pytest
import requests

from scripts.lib.cloud import endpoint, names, roles
from scripts.lib.cloud.aws import Aws
from scripts.lib.errors import CommandError
from tests.helpers import IMAGE, SAGEMAKER_TRUST, cli
from tests.servers import Server, start_on_free_port
from tests.stubbed_aws import endpoint_description, stub_update_endpoint, stubbed_client

pytestmark = pytest.mark.aws
REGION = "us-east-1"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")

    def start(port):
        (root / "config.yml").write_text(
            f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
        return Server(
            ["docker-registry", "serve", str(root / "config.yml")],
            dict(os.environ),
            root / "registry.log",
            port=port,
        )

    server = start_on_free_port(
        start, lambda server: requests.get(f"{server.url}/v2/", timeout=5).ok, 30
    )
    yield server
    server.stop()


def client(service):
    return boto3.client(service, region_name=REGION)


def test_upload_once_then_skip(aws_env, tmp_path):
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(os.urandom(17 * 1024 * 1024))  # above the multipart threshold
    first = cli("upload", str(archive), "s3://models-bucket/yolo/", "--create-bucket", env=aws_env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "s3://models-bucket/yolo/model.tar.gz"
    head = client("s3").head_object(Bucket="models-bucket", Key="yolo/model.tar.gz")
    assert head["ContentLength"] == 17 * 1024 * 1024
    assert len(head["Metadata"]["sha256"]) == 64

    again = cli("upload", str(archive), "s3://models-bucket/yolo/", env=aws_env)
    assert again.returncode == 0 and "upload skipped" in again.stderr
    assert (
        client("s3").head_object(Bucket="models-bucket", Key="yolo/model.tar.gz")["LastModified"]
        == head["LastModified"]
    )

    archive.write_bytes(b"changed")
    changed = cli("upload", str(archive), "s3://models-bucket/yolo/", env=aws_env)
    assert changed.returncode == 0 and "uploaded" in changed.stderr
    assert (
        client("s3").head_object(Bucket="models-bucket", Key="yolo/model.tar.gz")["ContentLength"]
        == 7
    )


def test_upload_to_a_missing_bucket_is_one_line(aws_env, tmp_path):
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"x")
    result = cli("upload", str(archive), "s3://no-such-bucket-here/m/", env=aws_env)
    assert result.returncode == 1
    assert "does not exist; pass --create-bucket" in result.stderr
    assert "Traceback" not in result.stderr


def test_push_to_a_registry(aws_env, registry, built_image):
    result = cli(
        "push",
        "--image",
        IMAGE,
        "--registry",
        registry.url.removeprefix("http://"),
        "--tag",
        "v1",
        env=aws_env,
    )
    assert result.returncode == 0, result.stderr
    assert requests.get(f"{registry.url}/v2/_catalog", timeout=10).json() == {
        "repositories": ["sm-detect"]
    }
    manifest = requests.get(
        f"{registry.url}/v2/sm-detect/manifests/v1",
        timeout=10,
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
            "application/vnd.docker.distribution.manifest.v2+json"
        },
    )
    assert manifest.status_code == 200
    assert len(manifest.json()["layers"]) == len(built_image["OCIv1"]["rootfs"]["diff_ids"])


def run_up(endpoint_name, bucket, archive, weights_file, host):
    """`sm-detect up` from ``archive`` (packaged from ``weights_file``) to ``endpoint_name``."""
    return cli(
        "up",
        "--endpoint",
        endpoint_name,
        "--s3",
        f"s3://{bucket}/models/",
        "--create-bucket",
        "--archive",
        str(archive),
        "--weights",
        str(weights_file),  # what the archive holds, or `up` refuses to deploy it
        "--image",
        IMAGE,
        "--registry",
        host,
        "--tag",
        "v2",
        "--env",
        "SM_DETECT_THRESHOLD=0.3",
        "--poll-seconds",
        "0.1",
        env=dict(os.environ),
    )


@pytest.fixture(scope="module")
def deployed(moto_settings, registry, built_image, model_archive, weights_file, tmp_path_factory):
    """`sm-detect up` run once, from an archive to an endpoint; the tests below read it (the
    teardown test deploys one of its own)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in moto_settings.items():
            patch.setenv(key, value)
        role = client("iam").create_role(
            RoleName="AmazonSageMaker-ExecutionRole-sm-detect",
            AssumeRolePolicyDocument=SAGEMAKER_TRUST,
        )["Role"]["Arn"]
        archive = tmp_path_factory.mktemp("up") / "model.tar.gz"
        shutil.copy(model_archive, archive)
        host = registry.url.removeprefix("http://")
        up = run_up("yolo-test", "deploy-bucket", archive, weights_file, host)
        yield {
            "result": up,
            "role": role,
            "host": host,
            "archive": archive,
            "weights": weights_file,
        }


def variant_of(endpoint_name):
    sagemaker = client("sagemaker")
    described = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    return described, config["ProductionVariants"][0]


def test_up_packages_uploads_pushes_and_deploys(deployed):
    up = deployed["result"]
    assert up.returncode == 0, up.stderr
    assert "[1/5] package" in up.stderr and "exists, skipped" in up.stderr  # archive was there
    assert f"execution role: {deployed['role']}" in up.stderr
    assert (
        "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/yolo-test/invocations"
        in up.stderr
    )
    described, variant = variant_of("yolo-test")
    assert described["EndpointStatus"] == "InService"
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.c5.xlarge", 1)
    model = client("sagemaker").describe_model(ModelName=variant["ModelName"])
    assert model["ExecutionRoleArn"] == deployed["role"]
    assert model["PrimaryContainer"]["Image"] == f"{deployed['host']}/sm-detect:v2"
    assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://deploy-bucket/models/model.tar.gz"
    assert model["PrimaryContainer"]["Environment"] == {
        "SM_DETECT_THRESHOLD": "0.3",
        "SM_DETECT_ENDPOINT_NAME": "yolo-test",
        "SM_DETECT_VARIANT_NAME": "AllTraffic",
    }
    assert client("s3").head_object(Bucket="deploy-bucket", Key="models/model.tar.gz")[
        "ContentLength"
    ] == os.path.getsize(deployed["archive"])
    assert (
        "sm-detect"
        in requests.get(f"http://{deployed['host']}/v2/_catalog", timeout=10).json()["repositories"]
    )


def test_scale_tracks_invocations_per_instance(deployed):
    scale = cli(
        "scale",
        "--endpoint",
        "yolo-test",
        "--min",
        "1",
        "--max",
        "4",
        "--target-invocations",
        "100",
        env=dict(os.environ),
    )
    assert scale.returncode == 0, scale.stderr
    autoscaling = client("application-autoscaling")
    (target,) = [
        target
        for target in autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")[
            "ScalableTargets"
        ]
        if target["ResourceId"].startswith("endpoint/yolo-test/")
    ]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        "endpoint/yolo-test/variant/AllTraffic",
        1,
        4,
    )
    (policy,) = [
        policy
        for policy in autoscaling.describe_scaling_policies(ServiceNamespace="sagemaker")[
            "ScalingPolicies"
        ]
        if policy["ResourceId"].startswith("endpoint/yolo-test/")
    ]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == 100.0
    assert (
        tracking["PredefinedMetricSpecification"]["PredefinedMetricType"]
        == "SageMakerVariantInvocationsPerInstance"
    )


def test_transform_runs_a_batch_job_asking_for_throughput(deployed):
    _, variant = variant_of("yolo-test")
    transform = cli(
        "transform",
        "--model",
        variant["ModelName"],
        "--input",
        "s3://deploy-bucket/images/",
        "--output",
        "s3://deploy-bucket/out/",
        "--accept",
        "application/x-coco+json",
        "--poll-seconds",
        "0.1",
        env=dict(os.environ),
    )
    assert transform.returncode == 0, transform.stderr
    sagemaker = client("sagemaker")
    (job,) = [
        job
        for job in sagemaker.list_transform_jobs()["TransformJobSummaries"]
        if job["TransformJobName"].startswith(variant["ModelName"])
    ]
    details = sagemaker.describe_transform_job(TransformJobName=job["TransformJobName"])
    assert details["ModelName"] == variant["ModelName"]
    assert details["TransformJobStatus"] == "Completed"
    assert details["TransformInput"]["ContentType"] == "application/x-image"
    assert details["TransformOutput"]["S3OutputPath"] == "s3://deploy-bucket/out/"
    assert details["TransformOutput"]["Accept"] == "application/x-coco+json"
    assert details["Environment"] == {"SM_DETECT_TUNING": "throughput"}


def test_teardown_all_leaves_nothing(deployed):
    up = run_up(
        "yolo-gone", "gone-bucket", deployed["archive"], deployed["weights"], deployed["host"]
    )
    assert up.returncode == 0, up.stderr
    scaled = cli(
        "scale", "--endpoint", "yolo-gone", "--min", "1", "--max", "2", env=dict(os.environ)
    )
    assert scaled.returncode == 0, scaled.stderr
    teardown = cli("teardown", "--endpoint", "yolo-gone", "--all", env=dict(os.environ))
    assert teardown.returncode == 0, teardown.stderr
    sagemaker = client("sagemaker")
    assert endpoint.describe(Aws(), "yolo-gone") is None
    assert not [m for m in sagemaker.list_models()["Models"] if "yolo-gone" in m["ModelName"]]
    configs = sagemaker.list_endpoint_configs()["EndpointConfigs"]
    assert not [c for c in configs if "yolo-gone" in c["EndpointConfigName"]]
    targets = client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker"
    )["ScalableTargets"]
    assert not [t for t in targets if "/yolo-gone/" in t["ResourceId"]]
    assert client("s3").list_objects_v2(Bucket="gone-bucket").get("KeyCount") == 0
    # the other endpoint is untouched
    assert endpoint.describe(Aws(), "yolo-test")["EndpointStatus"] == "InService"


def test_teardown_all_deletes_the_ecr_repository(aws_env):
    ecr, sagemaker = client("ecr"), client("sagemaker")
    repository = ecr.create_repository(repositoryName="sm-detect-teardown")["repository"]
    tags = [{"Key": names.TAG_KEY, "Value": "ecr-test"}]
    sagemaker.create_model(
        ModelName="ecr-test-model",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
        Tags=tags,
        PrimaryContainer={
            "Image": repository["repositoryUri"] + ":latest",
            "ModelDataUrl": "s3://nowhere-bucket/m.tar.gz",
        },
    )
    client("s3").create_bucket(Bucket="nowhere-bucket")
    result = cli("teardown", "--endpoint", "ecr-test", "--all", env=aws_env)
    assert result.returncode == 0, result.stderr
    assert "no endpoint ecr-test" in result.stderr
    repositories = ecr.describe_repositories()["repositories"]
    assert "sm-detect-teardown" not in [r["repositoryName"] for r in repositories]
    assert "ecr-test-model" not in [m["ModelName"] for m in sagemaker.list_models()["Models"]]


def test_dry_run_makes_no_calls(aws_env):
    result = cli(
        "deploy",
        "--endpoint",
        "dry",
        "--model-data",
        "s3://bucket/m.tar.gz",
        "--image",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/sm-detect:latest",
        "--dry-run",
        env=aws_env,
    )
    assert result.returncode == 0, result.stderr
    assert "[dry run] sagemaker.create_model(" in result.stderr
    assert "[dry run] sagemaker.create_endpoint(" in result.stderr
    assert not [m for m in client("sagemaker").list_models()["Models"] if "dry" in m["ModelName"]]


def test_no_execution_role_explains_how_to_make_one(aws_env):
    iam = client("iam")
    roles = iam.list_roles()["Roles"]
    policies = {}  # each role's inline policies, deleted first as IAM asks, put back after
    for role in roles:
        name = role["RoleName"]
        policies[name] = {
            policy: iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
        }
        for policy in policies[name]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        iam.delete_role(RoleName=name)
    try:
        result = cli(
            "deploy",
            "--endpoint",
            "norole",
            "--model-data",
            "s3://bucket/m.tar.gz",
            "--image",
            "img",
            env=aws_env,
        )
    finally:
        # the moto server is the module's: a test that runs after this one finds its roles
        for role in roles:
            name = role["RoleName"]
            iam.create_role(
                RoleName=name, AssumeRolePolicyDocument=json.dumps(role["AssumeRolePolicyDocument"])
            )
            for policy, document in policies[name].items():
                iam.put_role_policy(
                    RoleName=name, PolicyName=policy, PolicyDocument=json.dumps(document)
                )
    assert result.returncode == 1
    assert "no SageMaker execution role found" in result.stderr
    assert "s3:GetObject" in result.stderr and "sagemaker.amazonaws.com" in result.stderr


def test_error_from_aws_is_one_line(aws_env, tmp_path):
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(b"x")
    result = cli("upload", str(archive), "s3://b/m/", "--create-bucket", env=aws_env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "sm-detect upload: CreateBucket failed: InvalidBucketName: "
        "The specified bucket is not valid."
    )


def stub_model_and_config(stubber):
    stubber.add_response("create_model", {"ModelArn": "arn:aws:sagemaker:us-east-1:1:model/m"})
    stubber.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:1:endpoint-config/c"},
    )


def deploy_stubbed(sagemaker):
    endpoint.deploy(
        Aws(region=REGION, clients={"sagemaker": sagemaker}),
        endpoint.DeploySpec(
            "yolo", "s3://bucket/m.tar.gz", "img", role="arn:aws:iam::1:role/r", poll_seconds=0
        ),
    )


def test_deploy_updates_an_existing_endpoint_in_place():
    sagemaker, stubber = stubbed_client("sagemaker")
    stub_model_and_config(stubber)
    stubber.add_response("describe_endpoint", endpoint_description("InService"))
    stub_update_endpoint(stubber)
    stubber.add_response("describe_endpoint", endpoint_description("Updating"))
    stubber.add_response("describe_endpoint", endpoint_description("InService"))
    with stubber:
        deploy_stubbed(sagemaker)
        stubber.assert_no_pending_responses()


def test_failed_endpoint_reports_sagemakers_reason():
    sagemaker, stubber = stubbed_client("sagemaker")
    stub_model_and_config(stubber)
    stubber.add_client_error(
        "describe_endpoint", "ValidationException", "Could not find endpoint yolo."
    )
    stubber.add_response(
        "create_endpoint", {"EndpointArn": "arn:aws:sagemaker:us-east-1:1:endpoint/yolo"}
    )
    stubber.add_response("describe_endpoint", endpoint_description("Creating"))
    stubber.add_response(
        "describe_endpoint",
        endpoint_description(
            "Failed",
            FailureReason="The primary container for production variant AllTraffic did "
            "not pass the ping health check.",
        ),
    )
    with stubber, pytest.raises(CommandError, match="did not pass the ping health check"):
        deploy_stubbed(sagemaker)


def test_role_discovery_prefers_sagemaker_roles(monkeypatch):
    from moto import mock_aws

    # moto in process, with an account of its own: only these three roles exist
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    lambda_trust = SAGEMAKER_TRUST.replace("sagemaker.amazonaws.com", "lambda.amazonaws.com")
    with mock_aws():
        iam = boto3.client(
            "iam", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
        )
        for name, trust in (
            ("a-lambda-role", lambda_trust),
            ("b-generic", SAGEMAKER_TRUST),
            ("AmazonSageMaker-ExecutionRole-1", SAGEMAKER_TRUST),
        ):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)
        found = roles.find_execution_role(Aws(region=REGION, clients={"iam": iam}))
    assert found.endswith(":role/AmazonSageMaker-ExecutionRole-1")


def test_deploy_lets_the_role_read_the_buckets_images_come_from(aws_env, execution_role):
    result = cli(
        *("deploy", "--endpoint", "yolo-s3", "--model-data", "s3://deploy-bucket/m.tar.gz"),
        *("--image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/sm-detect:latest"),
        *("--s3-input", "uploads", "--s3-input", "photos", "--poll-seconds", "0.1"),
        env=aws_env,
    )
    assert result.returncode == 0, result.stderr
    _, variant = variant_of("yolo-s3")
    model = client("sagemaker").describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["Environment"]["SM_DETECT_S3_BUCKETS"] == "photos,uploads"
    role_name = model["ExecutionRoleArn"].rsplit("/", 1)[-1]
    policy = client("iam").get_role_policy(RoleName=role_name, PolicyName=roles.S3_INPUT_POLICY)
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["s3:GetObject"]
    assert statement["Resource"] == ["arn:aws:s3:::photos/*", "arn:aws:s3:::uploads/*"]
    refused = cli(
        *("deploy", "--endpoint", "yolo-s3", "--model-data", "s3://deploy-bucket/m.tar.gz"),
        *("--image", "x", "--s3-input", "Not_A_Bucket"),
        env=aws_env,
    )
    assert refused.returncode == 1 and "S3 bucket name" in refused.stderr
