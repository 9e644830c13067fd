"""The files a model directory is made of, and a check that it holds nothing else.

``sm-detect package`` writes the network (``model-symbol.json`` + ``model-0000.params``), its
metadata (``model.json``), GluonCV's own graph beside it for the benchmark
(``gluoncv-symbol.json``, FP32 archives only) and ``code/`` (the ``inference`` package, for AWS's
own MXNet container). A model directory is data: multi-model-server would treat it as code (a
``MAR-INF/MANIFEST.json`` or a ``MANIFEST.json`` names a handler it imports, and the directory is
put on the worker's ``PYTHONPATH``, where a ``sitecustomize.py`` or a package named like one of
ours runs), so whatever else a directory holds is refused or left behind. A light module: the
local doors read it without MXNet.
"""

import os
import stat

SYMBOL_FILE = "model-symbol.json"
PARAMS_FILE = "model-0000.params"
METADATA_FILE = "model.json"
# the same network as GluonCV exports it, before scripts/lib/archives/detection_head.py; not served
GLUONCV_SYMBOL_FILE = "gluoncv-symbol.json"
REQUIRED_FILES = (SYMBOL_FILE, PARAMS_FILE, METADATA_FILE)
DATA_FILES = (*REQUIRED_FILES, GLUONCV_SYMBOL_FILE)
# the archive's entry point for AWS's container: run by this project's server only when trusted
CODE_DIR = "code"


def unexpected_entries(model_dir: str) -> list[str]:
    """Paths (relative to ``model_dir``) of what a model directory may not hold: a name that is
    none of the model's files, a link or a device anywhere (a model's files are never links), and
    anything under ``code/`` that is not a plain file or folder. Empty for a packaged model."""
    found = []
    for root, dirs, files in os.walk(model_dir):
        relative_root = os.path.relpath(root, model_dir)
        for name in sorted(dirs) + sorted(files):
            relative = os.path.normpath(os.path.join(relative_root, name))
            mode = os.lstat(os.path.join(root, name)).st_mode
            if relative_root == ".":
                expected = (name in DATA_FILES and stat.S_ISREG(mode)) or (
                    name == CODE_DIR and stat.S_ISDIR(mode)
                )
            else:
                expected = stat.S_ISREG(mode) or stat.S_ISDIR(mode)
            if not expected:
                found.append(relative)
        dirs[:] = [name for name in dirs if not os.path.islink(os.path.join(root, name))]
        if relative_root == ".":
            dirs[:] = [name for name in dirs if name == CODE_DIR]
    return found
