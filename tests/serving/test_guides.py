"""The guides' local examples, run as written: each shell block in a fresh bash, in a folder that
holds what the guide says it needs (this repository's .venv and docs/, an archive in build/) and
nothing else, with no AWS settings and a home of its own."""

import contextlib
import json
import os
import pathlib
import re
import signal
import socket
import subprocess

import pytest

from tests.servers import QUICK_START

REPO = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.server


def block(page, containing):
    """The page's one shell block holding ``containing``."""
    text = (REPO / page).read_text()
    (found,) = [b for b in re.findall(r"```sh\n(.*?)```", text, re.S) if containing in b]
    return found


@pytest.fixture
def newcomer(tmp_path, model_archive):
    """(working folder, environment) as a newcomer has them after `make serve WEIGHTS=random`."""
    folder = tmp_path / "sm-detect"
    (folder / "build").mkdir(parents=True)
    for name in (".venv", "docs"):
        (folder / name).symlink_to(REPO / name)
    os.link(model_archive, folder / "build" / "model-random.tar.gz")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SM_DETECT_"))}
    env["HOME"] = str(tmp_path / "home")
    return folder, env


def run(script, folder, env, timeout=600):
    """``script`` in a fresh bash, (exit code, output); what it started in the background is
    stopped once it ends (its output goes to a file: those children hold a pipe open)."""
    log = folder / "shell.log"
    with open(log, "w") as output:
        shell = subprocess.Popen(
            ["bash", "-c", script],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = shell.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGTERM)
            shell.wait()
    return code, log.read_text()


def free(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_readmes_call_runs_as_written(server, newcomer):
    folder, env = newcomer
    # README's server is `make serve`'s on 8080; this one's port is its own
    script = block("README.md", "--data-binary @docs/astronaut.jpg").replace(
        "http://127.0.0.1:8080", server.url
    )
    code, output = run(script, folder, env, timeout=120)
    assert code == 0, output
    answer, _ = json.JSONDecoder().raw_decode(output)  # curl's answer has no line break
    assert answer["image"] == {"width": 512, "height": 512} and len(answer["detections"]) <= 2
    assert "detection(s) in 512x512" in output
    assert (folder / "boxes.jpg").read_bytes()[:3] == b"\xff\xd8\xff"


def test_the_multi_model_guides_local_story_runs_as_written(newcomer):
    folder, env = newcomer
    assert free(8081) and free(8443), "the guide's ports 8081 and 8443 are taken"
    code, output = run(block("docs/multi-model.md", "mkdir -p build/models"), folder, env)
    assert code == 0, output[-3000:]
    assert "detection(s) in 512x512" in output, output[-3000:]
    assert (folder / "build" / "models").is_dir()


def test_the_rollout_guides_local_story_runs_as_written(newcomer, int8_model_archive):
    folder, env = newcomer
    assert all(map(free, (8082, 8083, 8444))), "the guide's ports 8082, 8083, 8444 are taken"
    # its first two lines package random weights in FP32 and INT8, as the suite's archives are:
    # those stand in for them (packaging INT8 again takes minutes)
    script = block("docs/rollout.md", "--shadow int8=http://127.0.0.1:8083")
    packaging = [line for line in script.splitlines() if "sm-detect package" in line]
    assert [line.split()[-1] for line in packaging] == [
        "build/model-random.tar.gz",
        "build/model-random-int8.tar.gz",
    ]
    for line in packaging:
        script = script.replace(line + "\n", "")
    os.link(int8_model_archive, folder / "build" / "model-random-int8.tar.gz")
    env.update(QUICK_START)  # one canvas to warm: what is tested is the routing and the capture
    code, output = run(script, folder, env, timeout=240)  # its loops wait for ever if a step fails
    assert code == 0, output[-3000:]
    assert "answered by variant fp32" in output, output[-3000:]
    assert "int8 against fp32 on 1 request(s) both answered" in output, output[-3000:]
    assert len(list((folder / "captured").rglob("*.jsonl"))) == 2
