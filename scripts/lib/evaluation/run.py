"""``sm-detect evaluate``: the labelled set loaded, every photo sent, the results written and
scored, the figures printed (and written as JSON), the curves drawn."""

import json
import os

from scripts.lib.clients import invoke
from scripts.lib.errors import CommandError
from scripts.lib.evaluation import annotations, collect, picture, scores
from scripts.lib.progress import say, step

RESULTS_FILE = "results.json"
CURVES_FILE = "precision-recall.png"


def evaluate(
    send: invoke.Send,
    label: str,
    annotations_path: str,
    images_dir: str,
    output_dir: str,
    json_path: str | None = None,
) -> scores.Scores:
    """Score what ``send`` (a client transport) answers for the labelled photos; ``label`` says
    what answered. Returns the ``scores.Scores``."""
    labelled = annotations.load(annotations_path, images_dir)
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot write to {output_dir}: {error.strerror}") from None
    with step(f"sending {len(labelled.photos)} photo(s) to {label}"):
        results = collect.collect(send, labelled.photos)
    results_path = os.path.join(output_dir, RESULTS_FILE)
    with open(results_path, "w", encoding="utf-8") as file:
        json.dump(results, file)
    say(f"wrote {len(results)} detection(s), COCO results, to {results_path}")
    figures = scores.evaluate(labelled, results)
    print(scores.report(figures, label))
    drawn = picture.draw(figures, labelled, os.path.join(output_dir, CURVES_FILE))
    if drawn:
        say(f"wrote the precision-recall curves to {drawn}")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as file:
            json.dump({"model": label, **figures.to_dict()}, file, indent=2)
        say(f"wrote the figures to {json_path}")
    return figures
