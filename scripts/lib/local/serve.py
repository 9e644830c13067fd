"""Serve outside a container: lay out a SageMaker-like base dir, then run the `serve` entrypoint.

SageMaker unpacks ModelDataUrl into /opt/ml/model; here the archive is unpacked (safely) into
``BASE/model`` and ``SAGEMAKER_BASE_DIR=BASE`` points the server at it. A base directory this
command made for itself is removed when the server stops, whether it stopped cleanly or failed
to start.
"""

import contextlib
import glob
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from types import FrameType

from scripts.lib import progress
from scripts.lib.archives import archive
from scripts.lib.errors import CommandError
from scripts.lib.progress import say, step

DEFAULT_ARCHIVES = "build/model*.tar.gz"  # what `make serve` and `sm-detect package` write


def default_model() -> str:
    """The newest archive under build/, or a message saying how to make one."""
    archives = sorted(glob.glob(DEFAULT_ARCHIVES), key=os.path.getmtime)
    if not archives:
        raise CommandError(f"no model given and none found ({DEFAULT_ARCHIVES})", remedy="model")
    return archives[-1]


def lay_out(model: str, base_dir: str) -> str:
    model_dir = os.path.join(base_dir, "model")
    if os.path.isdir(model):
        if os.path.realpath(model) != os.path.realpath(model_dir):
            shutil.rmtree(model_dir, ignore_errors=True)
            shutil.copytree(model, model_dir)
    elif os.path.isfile(model):
        shutil.rmtree(model_dir, ignore_errors=True)
        with step(f"unpacking {model} into {model_dir}"):
            archive.safe_extract(model, model_dir)
    else:
        raise CommandError(f"{model} does not exist; create it with `sm-detect package`")
    return model_dir


@contextlib.contextmanager
def base_directory(base_dir: str | None = None) -> Iterator[str]:
    """``base_dir``, or a temporary one that is removed afterwards."""
    if base_dir:
        yield os.path.abspath(base_dir)
        return
    made = tempfile.mkdtemp(prefix="sm-detect-serve-")
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def describe(model_dir: str) -> str:
    """``yolo3_darknet53_coco, 80 classes, int8`` from the model's metadata."""
    from inference.metadata import ModelMetadata
    from inference.model import METADATA_FILE

    try:
        with open(os.path.join(model_dir, METADATA_FILE), encoding="utf-8") as file:
            metadata = ModelMetadata.from_json(file.read())
    except (OSError, ValueError, KeyError, TypeError):
        return "no readable model.json"  # the server says what is wrong with it
    return f"{metadata.name}, {len(metadata.classes)} classes, {metadata.precision}"


def follow_log_format() -> None:
    """Our lines as JSON when the server's are (one format for whoever reads the output)."""
    from container.settings import JSON, LOG_FORMAT

    if os.environ.get(LOG_FORMAT) == JSON:
        progress.report_as_json_lines()


def serve(
    model: str | None = None,
    port: int | None = None,
    host: str = "127.0.0.1",
    base_dir: str | None = None,
) -> int:
    """Serve ``model`` (an archive or a model directory) until stopped; returns the exit code."""
    follow_log_format()
    chosen = "" if model else f" (the newest {DEFAULT_ARCHIVES}; --model picks another)"
    model = model or default_model()
    # until the server installs its own handler, SIGTERM unwinds, so the base dir is removed
    signal.signal(signal.SIGTERM, exit_on_signal)
    with base_directory(base_dir) as base:
        model_dir = lay_out(model, base)
        say(f"serving {model}: {describe(model_dir)}{chosen}")
        environ = dict(os.environ, SAGEMAKER_BASE_DIR=base, SM_DETECT_HOST=host)
        if port is not None:
            environ["SAGEMAKER_BIND_TO_PORT"] = str(port)

        from container import serve as entrypoint

        return entrypoint.run(environ)


def serve_many(
    models_dir: str, port: int | None = None, host: str = "127.0.0.1", base_dir: str | None = None
) -> int:
    """A multi-model server: models loaded on demand from under ``models_dir`` (SageMaker's
    /opt/ml/models), none at start; returns the exit code."""
    if not os.path.isdir(models_dir):
        raise CommandError(f"{models_dir} is not a directory", remedy="models_dir")
    follow_log_format()
    signal.signal(signal.SIGTERM, exit_on_signal)
    with base_directory(base_dir) as base:
        say(f"serving the models under {models_dir} as a multi-model endpoint (none loaded yet)")
        environ = dict(
            os.environ,
            SAGEMAKER_BASE_DIR=base,
            SM_DETECT_HOST=host,
            SAGEMAKER_MULTI_MODEL="true",
            SM_DETECT_MODELS_DIR=os.path.abspath(models_dir),
        )
        if port is not None:
            environ["SAGEMAKER_BIND_TO_PORT"] = str(port)

        from container import serve as entrypoint

        return entrypoint.run(environ)


def exit_on_signal(signal_number: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signal_number)


@contextlib.contextmanager
def in_background(model: str, timeout_seconds: float = 600) -> Iterator[str]:
    """``sm-detect serve --model MODEL`` on loopback, on a port it picks, while the block runs;
    yields its URL. Its log is shown when it does not start."""
    from scripts.lib.local.processes import Server, ServerFailed

    with base_directory() as base:
        command = [sys.executable, "-m", "scripts.cli", "serve", "--model", str(model)]
        command += ["--port", "0", "--base-dir", base]
        server = Server(command, dict(os.environ), os.path.join(base, "server.log"))
        try:
            with step(f"starting a server for {model}"):
                url = server.wait_for_announcement(timeout_seconds)
            yield url
        except ServerFailed as error:
            raise CommandError(f"the server for {model} did not start: {error}") from None
        finally:
            server.stop()
