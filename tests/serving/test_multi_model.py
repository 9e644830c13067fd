"""A multi-model endpoint: one real server, detectors of different classes loaded, listed,
invoked, unloaded and refused as SageMaker's multi-model contract says."""

import concurrent.futures
import contextlib
import os
import shutil

import pytest
import requests

from scripts.lib.archives import archive
from tests.helpers import CUSTOM_CLASSES, cli, package_custom_detector
from tests.servers import BIN_DIR, Server, pinged, server_env, start_gateway

pytestmark = pytest.mark.server
ONE_FP32_MODEL_MIB = 1536  # what the registry counts for an FP32 model's worker


@pytest.fixture(scope="module")
def models_root(tmp_path_factory, model_archive):
    """SageMaker's layout: each model unpacked under ROOT/NAME/model."""
    root = tmp_path_factory.mktemp("models")
    archive.safe_extract(str(model_archive), str(root / "coco" / "model"))
    shutil.copytree(root / "coco" / "model", root / "coco-copy" / "model")
    custom = package_custom_detector(tmp_path_factory.mktemp("custom"))
    archive.safe_extract(str(custom), str(root / "custom" / "model"))
    (root / "not-a-model" / "model").mkdir(parents=True)
    (root / "not-a-model" / "model" / "model.json").write_text("{}")
    return root


@contextlib.contextmanager
def many_models(root, tmp_path, **env):
    command = [os.path.join(BIN_DIR, "sm-detect"), "serve", "--multi-model", "--models-dir"]
    command += [str(root), "--port", "0", "--base-dir", str(tmp_path / "base")]
    server = Server(command, server_env(tmp_path, **env), tmp_path / "server.log")
    try:
        server.wait_for_announcement(180)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(models_root, tmp_path_factory):
    with many_models(models_root, tmp_path_factory.mktemp("many")) as running:
        yield running


def load(server, name, directory):
    return requests.post(
        f"{server.url}/models", json={"model_name": name, "url": str(directory)}, timeout=300
    )


def invoke(server, name, body, **headers):
    return requests.post(
        f"{server.url}/models/{name}/invoke",
        data=body,
        headers={"Content-Type": "image/jpeg", **headers},
        timeout=120,
    )


def labels(answer):
    assert answer.status_code == 200, answer.text
    return {detection["label"] for detection in answer.json()["detections"]}


def test_it_starts_with_no_model_and_is_healthy(server, astronaut_jpeg):
    assert pinged(server.url)
    assert requests.get(f"{server.url}/models", timeout=10).json() == {"models": []}
    plain = requests.post(f"{server.url}/invocations", data=astronaut_jpeg, timeout=30)
    assert plain.status_code == 404 and "/models/NAME/invoke" in plain.json()["error"]["message"]


def test_two_detectors_with_their_own_classes(server, models_root, astronaut_jpeg):
    for name in ("coco", "custom"):
        loaded = load(server, name, models_root / name / "model")
        assert loaded.status_code == 200, loaded.text
    again = load(server, "coco", models_root / "coco" / "model")
    assert again.status_code == 409 and again.json()["error"]["code"] == "ModelAlreadyLoaded"

    listed = requests.get(f"{server.url}/models", timeout=10).json()["models"]
    assert {item["modelName"]: item["modelUrl"] for item in listed} == {
        "coco": str(models_root / "coco" / "model"),
        "custom": str(models_root / "custom" / "model"),
    }
    described = requests.get(f"{server.url}/models/custom", timeout=10).json()
    assert described == {"modelName": "custom", "modelUrl": str(models_root / "custom" / "model")}
    first_page = requests.get(f"{server.url}/models?limit=1", timeout=10).json()
    assert len(first_page["models"]) == 1 and first_page["nextPageToken"]

    # each model answers with its own classes, under concurrency, each request by its name
    attributes = {"X-Amzn-SageMaker-Custom-Attributes": "threshold=0,max_detections=100"}
    names = ["coco", "custom"] * 6
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda n: invoke(server, n, astronaut_jpeg, **attributes), names))
    for name, answer in zip(names, answers, strict=True):
        found = labels(answer)
        if name == "custom":
            assert found and found <= set(CUSTOM_CLASSES)
        else:
            assert found and not found & set(CUSTOM_CLASSES)
    assert '"target_model"' not in server.log  # no header given, none logged

    logged = invoke(server, "custom", astronaut_jpeg, **{"X-Amzn-SageMaker-Target-Model": "c.tgz"})
    assert logged.status_code == 200 and "target_model=c.tgz" in server.log


def test_unloading_under_load_leaves_the_other_model_serving(server, models_root, astronaut_jpeg):
    assert load(server, "coco-copy", models_root / "coco-copy" / "model").status_code == 200
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        busy = [pool.submit(invoke, server, "custom", astronaut_jpeg) for _ in range(4)]
        unloaded = requests.delete(f"{server.url}/models/coco-copy", timeout=120)
        assert unloaded.status_code == 200
        assert all(future.result().status_code == 200 for future in busy)
    gone = invoke(server, "coco-copy", astronaut_jpeg)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "ModelNotFound"
    missing = requests.get(f"{server.url}/models/coco-copy", timeout=10)
    assert missing.status_code == 404
    assert requests.delete(f"{server.url}/models/coco-copy", timeout=10).status_code == 404


@pytest.mark.parametrize(
    "name, where, status, code",
    [
        ("x", "/etc", 403, "ModelOutsideRoot"),
        ("x", "{root}/../", 403, "ModelOutsideRoot"),
        ("x", "{root}/nowhere/model", 404, "ModelNotFound"),
        ("x", "{root}/not-a-model/model", 400, "InvalidModel"),
        ("x", "{root}/coco", 400, "InvalidModel"),
        ("../x", "{root}/coco/model", 400, "ValidationError"),
    ],
)
def test_what_may_not_be_loaded_is_a_4xx_and_the_others_keep_answering(
    server, models_root, astronaut_jpeg, name, where, status, code
):
    refused = load(server, name, where.format(root=models_root))
    assert refused.status_code == status and refused.json()["error"]["code"] == code
    assert load(server, "custom", models_root / "custom" / "model").status_code in (200, 409)
    assert labels(invoke(server, "custom", astronaut_jpeg)) <= set(CUSTOM_CLASSES)


def test_a_load_over_the_memory_budget_is_a_507(models_root, tmp_path, astronaut_jpeg):
    # a budget that holds one FP32 model: the second is refused, so SageMaker unloads one
    with many_models(
        models_root, tmp_path, SM_DETECT_MODELS_MEMORY_MB=str(ONE_FP32_MODEL_MIB + 100)
    ) as server:
        assert load(server, "coco", models_root / "coco" / "model").status_code == 200
        over = load(server, "custom", models_root / "custom" / "model")
        assert over.status_code == 507 and over.json()["error"]["code"] == "InsufficientMemory"
        assert requests.delete(f"{server.url}/models/coco", timeout=120).status_code == 200
        assert load(server, "custom", models_root / "custom" / "model").status_code == 200
        assert labels(invoke(server, "custom", astronaut_jpeg)) <= set(CUSTOM_CLASSES)


def test_the_command_line_refuses_half_a_multi_model_server(tmp_path):
    result = cli("serve", "--multi-model", env=None)
    assert result.returncode == 1 and "--multi-model goes with --models-dir ROOT" in result.stderr


def test_the_public_apis_model_parameter_names_the_target_model(
    server, models_root, astronaut_jpeg, tmp_path
):
    assert load(server, "custom", models_root / "custom" / "model").status_code in (200, 409)
    key = "public-key-for-the-multi-model-test"  # pragma: allowlist secret
    public = start_gateway(server.url, tmp_path, "", "", ["--public", "--api-key", key])
    try:
        answer = requests.post(
            f"{public.url}/prod/detect?model=custom&attributes=threshold=0",
            data=astronaut_jpeg,
            headers={"Content-Type": "image/jpeg", "x-api-key": key},
            verify=public.cert,
            timeout=120,
        )
    finally:
        public.stop()
    assert labels(answer) <= set(CUSTOM_CLASSES)
    assert "target_model=custom" in server.log
