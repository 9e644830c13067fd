"""The shape-diverse part of the benchmark as Markdown: memory and latency by canvas
(``shapes``) and how far the default mode moves from GluonCV's pipeline (``canvases``)."""

from collections.abc import Iterable
from typing import Any

from scripts.lib.bench.markdown import table
from scripts.lib.bench.shapes import REPORTED_QUARTERS

GROWTH_TARGET_MIB = 64
PEAK_TARGET_MIB = {"fp32": 1536, "int8": 2048, "bf16": 2560}  # BF16: its worker budget


def mib(values: Iterable[float]) -> str:
    return ", ".join(f"{value:,.0f}" for value in values)


def memory_section(shapes: dict[str, Any] | None) -> str:
    """Each precision's workers' memory over a stream of distinct photo sizes."""
    if not shapes:
        return ""
    rows, latency_rows = [], []
    for precision, run in shapes.items():
        growth, peak = run["growth_last_three_quarters_mib"], run["peak_mib"]
        met = growth <= GROWTH_TARGET_MIB and peak <= PEAK_TARGET_MIB[precision]
        rows.append(
            [
                precision.upper(),
                run["count"],
                mib(run["rss_start_mib"]),
                *(mib(run["rss_mib_at"][str(share)]) for share in REPORTED_QUARTERS),
                f"{growth:.0f}",
                f"{peak:,.0f}",
                len(run["failures"]),
                "met" if met else "**not met**",
            ]
        )
        for canvas, figures in run["latency_by_canvas"].items():
            latency_rows.append(
                [precision.upper(), canvas, figures["requests"], f"{figures['p50'] * 1000:.0f} ms"]
            )
    header = ["model", "photos (all sizes distinct)", "worker RSS at start, MiB"]
    header += [f"after {share:.0%}" for share in REPORTED_QUARTERS]
    header += ["growth over the last 3/4, MiB", "peak, MiB", "failed answers", "target"]
    return "\n\n".join(
        [
            "## Memory under shape-diverse traffic",
            "One photo as JPEGs of distinct random sizes (each side 320 to 1600 px), sent one by "
            "one in the default mode; each worker's resident memory read after every answer. "
            f"Targets: growth over the last three quarters at most {GROWTH_TARGET_MIB} MiB, peak "
            f"at most {PEAK_TARGET_MIB['fp32']:,} MiB (FP32) and {PEAK_TARGET_MIB['int8']:,} MiB "
            "(INT8).",
            table(header, rows),
            "Latency by canvas (the network input the photo landed on, width x height), served "
            "end to end, one request at a time:",
            table(["model", "canvas", "requests", "p50"], latency_rows),
        ]
    )


def canvases_section(canvases: dict[str, Any] | None) -> str:
    """The default mode's detections against GluonCV's ``load_test`` pipeline's."""
    if not canvases:
        return ""
    rows = [
        [
            name,
            row["content"],
            row["canvas"],
            "yes" if row["padded"] else "no",
            f"{row['same_within_tolerance']} / {row['compared']}",
            f"{row['matched']} / {row['compared']}",
            f"{row['map50']:.3f}",
            f"{row['max_score_difference']:.2g}",
            f"{row['max_box_shift_px']:.2g}",
        ]
        for name, row in canvases.items()
    ]
    header = ["photograph", "resized", "canvas", "padded", "same (1e-4, 0.5 px)", "matched"]
    header += ["mAP@0.5", "max score diff", "max box shift, px"]
    return "\n\n".join(
        [
            "## The default mode against GluonCV's pipeline",
            "The 20 best detections of the default mode (`aspect`: the resized image on its "
            "bucket canvas) against those of `exact` (GluonCV's `load_test`, no canvas), by the "
            "same FP32 network in process. Random weights: the figures show how far padding moves "
            "the outputs, not accuracy.",
            table(header, rows),
        ]
    )
