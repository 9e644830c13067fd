"""Serve outside a container: lay out a SageMaker-like base dir, then run the `serve` entrypoint.

SageMaker unpacks ModelDataUrl into /opt/ml/model; here the archive is unpacked (safely) into
``BASE/model`` and ``SAGEMAKER_BASE_DIR=BASE`` points the toolkit at it.
"""

import os
import shutil
import sys
import tempfile

from scripts.lib import archive
from scripts.lib.errors import CommandError
from scripts.lib.progress import step


def lay_out(model, base_dir):
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


def serve(model, port=None, host="127.0.0.1", base_dir=None):
    base_dir = os.path.abspath(base_dir or tempfile.mkdtemp(prefix="sm-detect-serve-"))
    lay_out(model, base_dir)
    os.environ["SAGEMAKER_BASE_DIR"] = base_dir
    os.environ["SM_DETECT_HOST"] = host
    if port is not None:
        os.environ["SAGEMAKER_BIND_TO_PORT"] = str(port)
    # the toolkit starts `multi-model-server` by name: make this environment's bin dir findable
    bin_dir = os.path.dirname(sys.executable)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")

    from container import serve as entrypoint

    entrypoint.main([])
