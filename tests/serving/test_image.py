"""The image, really built (with buildah, as `make image` builds it without a Docker engine) and
really run.

The image's own ENTRYPOINT runs with the argument ``serve`` inside the built image (``buildah run
--isolation chroot``, host network), with a packaged model at /opt/ml/model, as SageMaker runs it.
Run alone with ``pytest -m image``.
"""

import contextlib
import json
import os
import re
import shutil
import subprocess

import psutil
import pytest
import requests
from PIL import Image

from tests.agreement import assert_agrees_with_this_process
from tests.helpers import IMAGE, LONG_COMMAND_SECONDS, REPO
from tests.servers import QUICK_START, START_TIMEOUT_SECONDS, Server, pinged, wait_until

pytestmark = [pytest.mark.image, pytest.mark.server]


def buildah(*args, check=True):
    return subprocess.run(
        ["buildah", *args], capture_output=True, text=True, check=check, timeout=600
    )


@pytest.fixture(scope="module")
def container(built_image, model_dir):
    name = buildah("from", "--pull-never", IMAGE).stdout.strip()
    try:
        buildah("copy", "--chown", "1000:1000", name, str(model_dir), "/opt/ml/model")
        yield name
    finally:
        buildah("rm", name, check=False)


def entrypoint(built_image):
    config = built_image["OCIv1"]["config"]
    return config["Entrypoint"], config.get("Cmd")


@contextlib.contextmanager
def serving(container, built_image, log, **env):
    """The image's entrypoint with ``serve``, as SageMaker runs it, until /ping says ready."""
    command, _ = entrypoint(built_image)
    settings = [f"{name}={value}" for name, value in env.items()]
    server = Server(
        [
            "buildah",
            "run",
            "--isolation",
            "chroot",
            "--env",
            "SAGEMAKER_BIND_TO_PORT=0",  # the server picks a free port and says which
            *(option for setting in settings for option in ("--env", setting)),
            container,
            "--",
            *command,
            "serve",
        ],
        dict(os.environ),
        log,
    )
    try:
        server.wait_for_announcement(START_TIMEOUT_SECONDS)
        server.wait_ready(lambda: pinged(server.url), START_TIMEOUT_SECONDS)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def served(container, built_image, tmp_path_factory):
    log = tmp_path_factory.mktemp("image") / "server.log"
    with serving(container, built_image, log) as server:
        yield server


def test_image_configuration(built_image):
    config = built_image["OCIv1"]["config"]
    assert config["Entrypoint"][:2] == ["/usr/bin/tini", "--"]  # exec form, an init as PID 1
    assert config["Cmd"] == ["serve"]
    assert config["User"] not in ("", "root", "0", "0:0")
    assert "8080/tcp" in config["ExposedPorts"]
    labels = config["Labels"]
    assert labels["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    assert labels["com.amazonaws.sagemaker.capabilities.multi-models"] == "true"


def test_other_commands_run_as_given(container, built_image):
    command, _ = entrypoint(built_image)
    result = buildah(
        "run", "--isolation", "chroot", container, "--", *command, "sm-detect", "--help"
    )
    assert "usage: sm-detect" in result.stdout


def test_serves_a_real_photograph(served, model_dir, astronaut_jpeg):
    assert requests.get(f"{served.url}/ping", timeout=10).json() == {"status": "healthy"}
    attributes = {"X-Amzn-SageMaker-Custom-Attributes": "threshold=0,max_detections=20"}
    response = requests.post(
        f"{served.url}/invocations",
        data=astronaut_jpeg,
        timeout=120,
        headers={"Content-Type": "image/jpeg", **attributes},
    )
    assert response.status_code == 200
    # the image's MXNet gives what the host's gives for the same model and request, up to the
    # last float digits (another process, another thread count)
    chosen = attributes["X-Amzn-SageMaker-Custom-Attributes"]
    assert_agrees_with_this_process(response.json(), model_dir, astronaut_jpeg, chosen)
    assert response.json()["detections"]


def test_annotated_image_and_a_bad_request(served, astronaut_jpeg, tmp_path):
    drawn = requests.post(
        f"{served.url}/invocations",
        data=astronaut_jpeg,
        timeout=120,
        headers={"Content-Type": "image/jpeg", "Accept": "image/png"},
    )
    assert drawn.status_code == 200 and drawn.headers["Content-Type"] == "image/png"
    (tmp_path / "drawn.png").write_bytes(drawn.content)
    assert Image.open(tmp_path / "drawn.png").size == (512, 512)
    bad = requests.post(
        f"{served.url}/invocations",
        data=b"%PDF-1.4",
        timeout=30,
        headers={"Content-Type": "image/jpeg"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidInput"


def serve_processes(served):
    """The image's ``serve`` among the processes the container run started, and only those."""
    with contextlib.suppress(psutil.NoSuchProcess):
        return [
            process
            for process in psutil.Process(served.process.pid).children(recursive=True)
            if process.cmdline()[-1:] == ["/opt/venv/bin/serve"]
        ]
    return []


def uid_inside(process):
    """``process``'s real uid as its own user namespace sees it (rootless buildah maps uids)."""
    outside = process.uids().real
    with open(f"/proc/{process.pid}/uid_map", encoding="ascii") as mapping:
        for line in mapping:
            inside_start, outside_start, count = map(int, line.split())
            if outside_start <= outside < outside_start + count:
                return outside - outside_start + inside_start
    raise AssertionError(f"uid {outside} is not mapped into {process.pid}'s namespace")


def test_runs_as_non_root_and_stops_on_sigterm(container, built_image, tmp_path):
    # a server of its own: the others' stays up whatever order the tests run in
    with serving(container, built_image, tmp_path / "server.log", **QUICK_START) as served:
        stopped_on_sigterm(served)


def stopped_on_sigterm(served):
    (serve_process,) = serve_processes(served)
    assert uid_inside(serve_process) == 1000
    init = serve_process.parent()  # tini, the container's PID 1 under Docker
    assert init.cmdline()[0] == "/usr/bin/tini"
    init.terminate()
    served.process.wait(timeout=30)  # raises if it outlives SageMaker's 30 s
    # the image logs JSON lines, for CloudWatch Logs
    logged = [json.loads(line) for line in served.log.splitlines() if line.startswith("{")]
    assert {"logger": "sm-detect.serve", "message": "stopped"}.items() <= logged[-1].items()
    assert wait_until(lambda: not serve_process.is_running(), 10)


def pinned_names(*files):
    names = set()
    for name in files:
        with open(os.path.join(REPO, "requirements", name), encoding="utf-8") as file:
            for line in file:
                line = line.split("#", 1)[0].strip()
                if line and not line.startswith("-"):
                    names.add(canonical(line.split("==")[0]))
    return names


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def run_in(container, built_image, *args, volumes=()):
    command, _ = entrypoint(built_image)
    mounts = [option for volume in volumes for option in ("-v", volume)]
    return buildah(
        "run", "--isolation", "chroot", *mounts, container, "--", *command, *args, check=False
    )


def test_the_image_holds_the_serving_set_and_a_cut_down_java(container, built_image):
    listed = run_in(container, built_image, "pip", "list", "--format", "json")
    installed = {canonical(entry["name"]) for entry in json.loads(listed.stdout)}
    allowed = pinned_names("serving.txt", "build.txt") | {"pip", "sm-detect"}
    assert installed <= allowed, installed - allowed
    assert {"mxnet", "multi-model-server", "aiohttp"} <= installed
    # the request path and the entrypoint import in it (the serving test then serves with it)
    imported = run_in(
        container,
        built_image,
        "python",
        "-c",
        "import container.serve, container.handler_service, inference.handler; print('ok')",
    )
    assert imported.stdout.strip() == "ok", imported.stderr[-2000:]
    modules = run_in(container, built_image, "java", "--list-modules").stdout
    assert "java.base@" in modules and "jdk.compiler" not in modules  # jlink's, not a JDK
    java = run_in(container, built_image, "sh", "-c", "command -v java; ls /usr/lib/jvm 2>&1")
    assert java.stdout.startswith("/opt/java/bin/java") and "No such file" in java.stdout


def test_a_command_outside_the_serving_set_says_what_it_needs(container, built_image):
    result = run_in(container, built_image, "sm-detect", "package", "--weights", "random")
    assert result.returncode == 1
    assert "no gluoncv, which is in the packaging set" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_empty_read_only_model_dir_is_one_line(built_image, tmp_path):
    empty = tmp_path / "model"
    empty.mkdir()
    name = buildah("from", "--pull-never", IMAGE).stdout.strip()
    try:
        result = run_in(name, built_image, "serve", volumes=[f"{empty}:/opt/ml/model:ro"])
    finally:
        buildah("rm", name, check=False)
    assert result.returncode == 1
    # buildah adds its own "Error: exit status 1"
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("sm-detect serve:")]
    assert error.startswith("sm-detect serve: cannot serve /opt/ml/model: ")
    assert "lacks model-symbol.json" in error and "Traceback" not in result.stderr


def build_image(name, build_argument):
    return subprocess.run(
        [
            "bash",
            os.path.join(REPO, "container", "build-image.sh"),
            name,
            "--build-arg",
            build_argument,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=LONG_COMMAND_SECONDS,
    )


def test_a_model_baked_in_with_model_archive(model_archive, built_image, tmp_path):
    # the archive must be inside the build context, where .dockerignore lets build/*.tar.gz in
    inside = os.path.join(REPO, "build", "test-baked-model.tar.gz")
    os.makedirs(os.path.dirname(inside), exist_ok=True)
    shutil.copy(model_archive, inside)
    baked = "localhost/sm-detect:baked"
    try:
        built = build_image(baked, "MODEL_ARCHIVE=build/test-baked-model.tar.gz")
        assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    finally:
        os.remove(inside)
    name = buildah("from", "--pull-never", baked).stdout.strip()
    try:
        listed = run_in(name, built_image, "ls", "-l", "/opt/ml/model")
        assert "model-0000.params" in listed.stdout and "model.json" in listed.stdout
        assert " model-server " not in listed.stdout  # the files stay root's, read-only to it
        missing = build_image(baked, "MODEL_ARCHIVE=build/no-such-model.tar.gz")
        assert missing.returncode == 1
        assert missing.stderr.strip().splitlines()[-1] == (
            "build-image.sh: MODEL_ARCHIVE=build/no-such-model.tar.gz: no such file"
        )
    finally:
        buildah("rm", name, check=False)
        buildah("rmi", baked, check=False)
