"""A multi-model endpoint: one real server, detectors of different classes loaded, listed,
invoked, unloaded and refused as SageMaker's multi-model contract says; a model folder is data,
never code. Each test loads models under names of its own, so that any order works."""

import concurrent.futures
import contextlib
import json
import os
import shutil
import uuid

import psutil
import pytest
import requests

from inference.model_files import DATA_FILES, REQUIRED_FILES
from scripts.lib.archives import archive
from tests.helpers import CUSTOM_CLASSES, cli, package_custom_detector
from tests.servers import BIN_DIR, QUICK_START, Server, pinged, server_env, start_gateway

pytestmark = pytest.mark.server
ONE_FP32_MODEL_MIB = 1536  # what the registry counts for an FP32 model's worker


@pytest.fixture(scope="module")
def models_root(tmp_path_factory, model_archive):
    """SageMaker's layout: each model unpacked under ROOT/NAME/model."""
    root = tmp_path_factory.mktemp("models")
    archive.safe_extract(str(model_archive), str(root / "coco" / "model"))
    custom = package_custom_detector(tmp_path_factory.mktemp("custom"))
    archive.safe_extract(str(custom), str(root / "custom" / "model"))
    (root / "not-a-model" / "model").mkdir(parents=True)
    (root / "not-a-model" / "model" / "model.json").write_text("{}")
    return root


def model_folder(root, source="coco", metadata=None, **extra_files):
    """A new folder under ``root`` holding ``source``'s model (hard links: the same bytes, no
    copy), its model.json changed by ``metadata(dict)`` and ``extra_files`` (relative path ->
    text) added; its path."""
    folder = root / f"made-{uuid.uuid4().hex[:8]}"
    shutil.copytree(root / source / "model", folder, copy_function=os.link)
    if metadata:
        document = json.loads((folder / "model.json").read_text())
        (folder / "model.json").unlink()
        (folder / "model.json").write_text(json.dumps(metadata(document)))
    for relative, text in extra_files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


@contextlib.contextmanager
def many_models(root, tmp_path, **env):
    command = [os.path.join(BIN_DIR, "sm-detect"), "serve", "--multi-model", "--models-dir"]
    command += [str(root), "--port", "0", "--base-dir", str(tmp_path / "base")]
    server = Server(command, server_env(tmp_path, **QUICK_START, **env), tmp_path / "server.log")
    try:
        server.wait_for_announcement(180)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(models_root, tmp_path_factory):
    with many_models(models_root, tmp_path_factory.mktemp("many")) as running:
        yield running


def fresh(name):
    """A model name no other test uses."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def load(server, name, directory):
    return requests.post(
        f"{server.url}/models", json={"model_name": name, "url": str(directory)}, timeout=300
    )


def loaded(server, name, directory):
    answer = load(server, name, directory)
    assert answer.status_code == 200, answer.text
    return name


@pytest.fixture
def loader(server):
    """``loader(name, directory)``: a model loaded under a fresh name made from ``name``, and
    unloaded when the test ends, so that the shared server's budget lasts the module."""
    names = []

    def load_fresh(name, directory):
        names.append(loaded(server, fresh(name), directory))
        return names[-1]

    yield load_fresh
    for name in names:
        requests.delete(f"{server.url}/models/{name}", timeout=120)


@pytest.fixture(scope="module")
def custom_model(server, models_root):
    """A loaded detector of three classes that must keep answering whatever else is refused."""
    return loaded(server, fresh("custom"), models_root / "custom" / "model")


@pytest.fixture(scope="module")
def coco_model(server, models_root):
    """A loaded COCO detector that refused names must never reach."""
    return loaded(server, fresh("coco"), models_root / "coco" / "model")


def listed(server):
    return {
        item["modelName"]: item["modelUrl"]
        for item in requests.get(f"{server.url}/models", timeout=10).json()["models"]
    }


def invoke(server, name, body, **headers):
    return requests.post(
        f"{server.url}/models/{name}/invoke",
        data=body,
        headers={
            "Content-Type": "image/jpeg",
            "X-Amzn-SageMaker-Custom-Attributes": "threshold=0",
            **headers,
        },
        timeout=120,
    )


def labels(answer):
    assert answer.status_code == 200, answer.text
    return {detection["label"] for detection in answer.json()["detections"]}


def test_it_is_healthy_without_a_model_and_refuses_plain_invocations(server, astronaut_jpeg):
    assert pinged(server.url)
    plain = requests.post(f"{server.url}/invocations", data=astronaut_jpeg, timeout=30)
    assert plain.status_code == 404 and "/models/NAME/invoke" in plain.json()["error"]["message"]


def test_two_detectors_with_their_own_classes(server, loader, models_root, astronaut_jpeg):
    coco = loader("coco", models_root / "coco" / "model")
    custom = loader("custom", models_root / "custom" / "model")
    again = load(server, coco, models_root / "coco" / "model")
    assert again.status_code == 409 and again.json()["error"]["code"] == "ModelAlreadyLoaded"

    models = listed(server)
    assert models[coco] == str(models_root / "coco" / "model")
    assert models[custom] == str(models_root / "custom" / "model")
    described = requests.get(f"{server.url}/models/{custom}", timeout=10).json()
    assert described == {"modelName": custom, "modelUrl": str(models_root / "custom" / "model")}
    first_page = requests.get(f"{server.url}/models?limit=1", timeout=10).json()
    assert len(first_page["models"]) == 1 and first_page["nextPageToken"]

    # each model answers with its own classes, under concurrency, each request by its name
    names = [coco, custom] * 6
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda n: invoke(server, n, astronaut_jpeg), names))
    for name, answer in zip(names, answers, strict=True):
        found = labels(answer)
        if name == custom:
            assert found and found <= set(CUSTOM_CLASSES)
        else:
            assert found and not found & set(CUSTOM_CLASSES)

    marked = invoke(server, custom, astronaut_jpeg, **{"X-Amzn-SageMaker-Target-Model": "c.tgz"})
    assert marked.status_code == 200 and "target_model=c.tgz" in server.log


def test_unloading_under_load_leaves_the_other_model_serving(
    server, custom_model, loader, models_root, astronaut_jpeg
):
    busy_model = custom_model
    leaving = loader("leaving", models_root / "coco" / "model")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        busy = [pool.submit(invoke, server, busy_model, astronaut_jpeg) for _ in range(4)]
        unloaded = requests.delete(f"{server.url}/models/{leaving}", timeout=120)
        assert unloaded.status_code == 200
        assert all(future.result().status_code == 200 for future in busy)
    gone = invoke(server, leaving, astronaut_jpeg)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "ModelNotFound"
    assert requests.get(f"{server.url}/models/{leaving}", timeout=10).status_code == 404
    assert requests.delete(f"{server.url}/models/{leaving}", timeout=10).status_code == 404
    assert leaving not in listed(server)


def nested(depth):
    return {"a": nested(depth - 1)} if depth else 1


@pytest.mark.parametrize(
    "body, where, status, code",
    [
        ({"url": "/etc"}, None, 403, "ModelOutsideRoot"),
        ({"url": "{root}/../"}, None, 403, "ModelOutsideRoot"),
        ({"url": "{root}/nowhere/model"}, None, 404, "ModelNotFound"),
        ({"url": "{root}/not-a-model/model"}, None, 400, "InvalidModel"),
        ({"url": "{root}/coco"}, None, 400, "UnexpectedFile"),  # the model is one folder down
        ({"url": "{root}/coco/model", "model_name": "../x"}, None, 400, "ValidationError"),
        ({"url": "{root}/coco/model\x00x"}, None, 400, "ValidationError"),
        ("[" * 50_000, None, 400, "ValidationError"),
        # model.json fields a worker could not serve, refused at load
        ({}, lambda m: {**m, "classes": [{"a": 1}]}, 400, "InvalidModel"),
        ({}, lambda m: {**m, "classes": []}, 400, "InvalidModel"),
        ({}, lambda m: {**m, "preprocessing": {"short": 100_000}}, 400, "InvalidModel"),
        ({}, lambda m: {**m, "nms": {"post_nms": -1}}, 400, "InvalidModel"),
        ({}, lambda m: {**m, "weights": nested(900)}, 400, "InvalidModel"),
    ],
)
def test_what_may_not_be_loaded_is_a_4xx_and_the_others_keep_answering(
    server, custom_model, models_root, astronaut_jpeg, body, where, status, code
):
    if isinstance(body, dict):
        url = body.get("url") or str(model_folder(models_root, metadata=where))
        body = {"model_name": fresh("x"), **body, "url": url.format(root=models_root)}
        refused = requests.post(f"{server.url}/models", json=body, timeout=120)
    else:
        refused = requests.post(f"{server.url}/models", data=body, timeout=120)
    assert refused.status_code == status, refused.text
    assert refused.json()["error"]["code"] == code
    found = labels(invoke(server, custom_model, astronaut_jpeg))
    assert found and found <= set(CUSTOM_CLASSES)


HANDLER_FILE = (
    'open({marker!r}, "w").write("ran")\n\ndef handle(data, context):\n    return [b"pwned"]\n'
)
MAR_MANIFEST = {
    "runtime": "python",
    "model": {"modelName": "pwn", "handler": "evilhandler:handle"},
    "specificationVersion": "1.0",
    "implementationVersion": "1.0",
    "modelServerVersion": "1.0",
}
LEGACY_MANIFEST = {
    "Model-Archive-Version": 0.2,
    "Model-Server": "0.4",
    "Model": {"Model-Name": "pwn", "Service": "evil_legacy.py", "Symbol": "model-symbol.json"},
}
# the four ways a folder's own code ran on a multi-model endpoint: the file named in the refusal
CODE_FORMS = {
    "a handler its MAR manifest names": (
        "MAR-INF",
        {"MAR-INF/MANIFEST.json": json.dumps(MAR_MANIFEST), "evilhandler.py": HANDLER_FILE},
    ),
    "sitecustomize": ("sitecustomize.py", {"sitecustomize.py": HANDLER_FILE}),
    "a package named like the project's": ("inference", {"inference/__init__.py": HANDLER_FILE}),
    "a legacy manifest's service": (
        "MANIFEST.json",
        {"MANIFEST.json": json.dumps(LEGACY_MANIFEST), "evil_legacy.py": HANDLER_FILE},
    ),
}


def code_form(root, form, marker):
    """A folder holding a good model and ``form``'s code, which would write ``marker``."""
    _, files = CODE_FORMS[form]
    handler = HANDLER_FILE.format(marker=str(marker))
    return model_folder(
        root, **{path: handler if path.endswith(".py") else text for path, text in files.items()}
    )


@pytest.mark.parametrize("form", CODE_FORMS)
def test_a_model_folder_is_data_never_code(
    server, loader, models_root, astronaut_jpeg, tmp_path, form
):
    marker = tmp_path / "the-folder's-code-ran"
    name = fresh("evil")
    refused = load(server, name, code_form(models_root, form, marker))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "UnexpectedFile"
    assert f"holds {CODE_FORMS[form][0]}" in refused.json()["error"]["message"]
    assert invoke(server, name, astronaut_jpeg).status_code == 404
    # a model that is only a model loads from the same root; nothing of the refused one ran
    assert labels(invoke(server, loader("plain", model_folder(models_root)), astronaut_jpeg))
    assert not marker.exists()


def test_a_link_to_a_file_outside_the_model_is_refused(server, models_root):
    folder = model_folder(models_root)
    (folder / "model-0000.params").unlink()
    (folder / "model-0000.params").symlink_to(models_root / "coco" / "model" / "model-0000.params")
    refused = load(server, fresh("linked"), folder)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "UnexpectedFile"
    assert "holds model-0000.params" in refused.json()["error"]["message"]


def test_no_worker_imports_from_a_model_folder(server, coco_model, models_root):
    workers = [
        process
        for process in psutil.Process(server.process.pid).children(recursive=True)
        if any("model_service_worker" in part for part in process.cmdline())
    ]
    assert workers
    for worker in workers:
        path = worker.environ().get("PYTHONPATH", "").split(os.pathsep)
        assert not [part for part in path if str(models_root) in os.path.realpath(part)]
        # the folder MMS loads from holds links to the model's data files, nothing else
        store = next(part for part in path if os.sep + "store" + os.sep in part)
        held = set(os.listdir(store))
        assert set(REQUIRED_FILES) <= held <= set(DATA_FILES)
        assert all(os.path.islink(os.path.join(store, name)) for name in held)


@pytest.mark.parametrize("encoded", [".%2F{name}", "..%2F..%2Fping", "a" * 5000, "%2E%2E"])
@pytest.mark.parametrize("method, suffix", [("GET", ""), ("DELETE", ""), ("POST", "/invoke")])
def test_every_route_checks_the_name_as_decoded(
    server, coco_model, astronaut_jpeg, encoded, method, suffix
):
    name = coco_model
    before = listed(server)
    answer = requests.request(
        method,
        f"{server.url}/models/{encoded.format(name=name)}{suffix}",
        data=astronaut_jpeg if method == "POST" else None,
        headers={"Content-Type": "image/jpeg"},
        timeout=60,
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "ValidationError"
    assert listed(server) == before
    assert invoke(server, name, astronaut_jpeg).status_code == 200


def test_racing_loads_never_pass_the_memory_budget(models_root, tmp_path, astronaut_jpeg):
    # a budget that holds two FP32 models: of three loads at once, two are admitted
    budget = 2 * ONE_FP32_MODEL_MIB + 100
    with many_models(models_root, tmp_path, SM_DETECT_MODELS_MEMORY_MB=str(budget)) as server:
        assert listed(server) == {}
        # first a load whose workers fail (the custom detector's weights under COCO's graph:
        # every file reads, the shapes differ): it gives its share back, nothing stays loaded
        mixed = model_folder(models_root)
        (mixed / "model-0000.params").unlink()
        os.link(models_root / "custom" / "model" / "model-0000.params", mixed / "model-0000.params")
        failed = load(server, "mixed", mixed)
        assert failed.status_code == 500 and failed.json()["error"]["code"] == "ModelLoadFailed"
        assert listed(server) == {}
        names = ["one", "two", "three"]
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            loads = list(pool.map(lambda n: load(server, n, models_root / "coco" / "model"), names))
        statuses = sorted(answer.status_code for answer in loads)
        assert statuses == [200, 200, 507], [answer.text for answer in loads]
        refused = names[[answer.status_code for answer in loads].index(507)]
        assert loads[names.index(refused)].json()["error"]["code"] == "InsufficientMemory"
        assert sorted(listed(server)) == sorted(set(names) - {refused})
        # an unload gives its share back, and the refused model then loads
        kept = sorted(set(names) - {refused})
        assert requests.delete(f"{server.url}/models/{kept[0]}", timeout=120).status_code == 200
        again = loaded(server, refused, models_root / "coco" / "model")
        assert labels(invoke(server, again, astronaut_jpeg))


def test_the_command_line_refuses_half_a_multi_model_server(tmp_path):
    result = cli("serve", "--multi-model", env=None)
    assert result.returncode == 1 and "--multi-model goes with --models-dir ROOT" in result.stderr


def test_the_public_apis_model_parameter_names_the_target_model(
    server, custom_model, astronaut_jpeg, tmp_path
):
    name = custom_model
    key = "public-key-for-the-multi-model-test"  # pragma: allowlist secret
    public = start_gateway(server.url, tmp_path, "", "", ["--public", "--api-key", key])
    try:
        answer = requests.post(
            f"{public.url}/prod/detect?model={name}&attributes=threshold=0",
            data=astronaut_jpeg,
            headers={"Content-Type": "image/jpeg", "x-api-key": key},
            verify=public.cert,
            timeout=120,
        )
    finally:
        public.stop()
    found = labels(answer)
    assert found and found <= set(CUSTOM_CLASSES)
    assert f"target_model={name}" in server.log
