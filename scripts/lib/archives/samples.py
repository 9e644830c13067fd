"""Sample photographs for INT8 calibration when none are given: scikit-image's own (an
astronaut, a cup of coffee, a cat, a motorcycle, a rocket launch) and matplotlib's portrait,
shipped inside the packaging set's wheels, written out as JPEG files."""

import os

from PIL import Image

from scripts.lib.errors import CommandError

SKIMAGE_PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "rocket.jpg")


def write_sample_photos(folder: str) -> int:
    """The sample photographs as JPEGs in ``folder``; returns how many were written."""
    try:
        import matplotlib
        import skimage
    except ImportError as error:
        raise CommandError(
            f"no {error.name}, whose sample photographs calibrate INT8 by default: install the "
            "packaging set (pip install -r requirements/packaging.txt), or give --calibration DIR"
        ) from None
    sources = [
        os.path.join(os.path.dirname(skimage.__file__), "data", name) for name in SKIMAGE_PHOTOS
    ]
    sources.append(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg"))
    os.makedirs(folder, exist_ok=True)
    for source in sources:
        name = os.path.splitext(os.path.basename(source))[0] + ".jpg"
        with Image.open(source) as photo:
            photo.convert("RGB").save(os.path.join(folder, name), "JPEG", quality=92)
    return len(sources)
