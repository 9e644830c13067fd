"""The model server's store: each model a private folder holding links to its data files only.

multi-model-server starts a model's worker in the model's folder and puts that folder on the
worker's ``PYTHONPATH``, and its loader imports the handler a ``MANIFEST.json`` in it names. So
MMS never sees a model's own folder: it is given a folder of this run (mode 0700) that holds a
link to each of the model's data files (``inference.model_files.DATA_FILES``) and nothing else,
whatever else the model's folder holds. The handler is named when the model is registered.
"""

import os
import shutil

from inference.model_files import DATA_FILES


class ModelStore:
    """Folders under ``root``, one per model name, each linking to one model's data files."""

    def __init__(self, root: str):
        self.root = root
        os.makedirs(root, mode=0o700, exist_ok=True)

    def stage(self, name: str, model_dir: str) -> str:
        """The folder MMS loads ``name`` from, made anew; its path relative to ``root``."""
        folder = os.path.join(self.root, name)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder, mode=0o700)
        for file_name in DATA_FILES:
            source = os.path.join(os.path.realpath(model_dir), file_name)
            if os.path.isfile(source):
                os.symlink(source, os.path.join(folder, file_name))
        return name

    def remove(self, name: str) -> None:
        shutil.rmtree(os.path.join(self.root, name), ignore_errors=True)
