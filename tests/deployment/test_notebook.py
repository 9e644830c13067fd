"""The walkthrough notebook: committed clean, and run top to bottom as `make notebook` runs it."""

import json
import os
import subprocess

import pytest

from tests.helpers import LONG_COMMAND_SECONDS, REPO
from tests.servers import QUICK_START

pytestmark = pytest.mark.server
NOTEBOOK = os.path.join(REPO, "notebooks", "walkthrough.ipynb")
EXECUTED = os.path.join(REPO, "build", "walkthrough.ipynb")


def code_cells(path):
    with open(path, encoding="utf-8") as file:
        return [cell for cell in json.load(file)["cells"] if cell["cell_type"] == "code"]


def test_the_committed_notebook_has_no_outputs_and_no_keys():
    cells = code_cells(NOTEBOOK)
    assert cells
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in cells)
    with open(NOTEBOOK, encoding="utf-8") as file:
        text = file.read()
    assert "AKIA" not in text and "aws_secret_access_key =" not in text


def test_make_notebook_runs_it_top_to_bottom():
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(QUICK_START)  # its server warms one canvas: what is run here is the story
    result = subprocess.run(
        ["make", "notebook"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=LONG_COMMAND_SECONDS,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cells = code_cells(EXECUTED)
    outputs = [output for cell in cells for output in cell["outputs"]]
    assert not [output for output in outputs if output["output_type"] == "error"]
    printed = "".join(
        "".join(output.get("text", "")) for output in outputs if output["output_type"] == "stream"
    )
    for step in (
        "serving on http://127.0.0.1:",
        "detections through the twin",
        "detections through the SDK",
        "[dry run] sagemaker.create_model(",
        "stopped 2 server(s)",
    ):
        assert step in printed, step
    pictures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(pictures) == 2  # the matplotlib plot and the server's drawn answer
