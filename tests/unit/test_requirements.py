"""The dependency sets: each package pinned once, every set included in the local one, nothing
installed unpinned. (That the serving code needs nothing outside the serving set is shown by the
image, which holds that set alone: tests/serving/test_image.py.)"""

import os
import re
import sysconfig
from importlib import metadata

from tests.helpers import REPO

FILES = [
    "requirements.txt",
    "requirements-dev.txt",
    *(
        os.path.join("requirements", name)
        for name in os.listdir(os.path.join(REPO, "requirements"))
    ),
]


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path):
    """(name, version) of each requirement line of ``path``; includes (``-r``) are not followed."""
    found = []
    with open(os.path.join(REPO, path), encoding="utf-8") as file:
        for line in file:
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-r "):
                continue
            name, separator, version = line.partition("==")
            assert separator and version, f"{path}: {line!r} is not pinned with =="
            found.append((canonical(re.sub(r"\[.*\]", "", name)), version))
    return found


def test_each_package_is_pinned_in_one_place():
    places = {}
    for path in FILES:
        for name, _ in pins(path):
            places.setdefault(name, []).append(path)
    twice = {name: paths for name, paths in places.items() if len(paths) > 1}
    assert not twice


def test_the_local_set_includes_every_set_and_nothing_is_installed_unpinned():
    with open(os.path.join(REPO, "requirements.txt"), encoding="utf-8") as file:
        included = re.findall(r"^-r (\S+)$", file.read(), re.M)
    assert sorted(included) == sorted(
        f"requirements/{name}"
        for name in ("build.txt", "serving.txt", "packaging.txt", "deploy.txt")
    )
    pinned = {name for path in FILES for name, _ in pins(path)}
    # this environment's own packages: not whatever another test put on sys.path
    site_packages = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    installed = {canonical(d.metadata["Name"]) for d in metadata.distributions(path=site_packages)}
    unpinned = installed - pinned - {"sm-detect", "pip", "wheel"}
    assert not unpinned


def test_installed_versions_are_the_pinned_ones():
    for path in FILES:
        for name, version in pins(path):
            assert metadata.version(name) == version, f"{name} in {path}"
