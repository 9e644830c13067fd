"""The benchmark's shape-diverse tables: the issue's bounds decide met or not met."""

from scripts.lib.bench import shapes_report


def run(growth, peak, failures=()):
    return {
        "count": 240,
        "rss_start_mib": [1200.0],
        "rss_mib_at": {share: [1200.0 + growth] for share in ("0.25", "0.5", "0.75", "1.0")},
        "growth_last_three_quarters_mib": growth,
        "peak_mib": peak,
        "failures": list(failures),
        "latency_by_canvas": {"555x416": {"requests": 30, "p50": 0.25}},
    }


def verdicts(section):
    rows = [line for line in section.splitlines() if line.startswith(("| FP32", "| INT8"))]
    return [row.rstrip(" |").rsplit("| ", 1)[1] for row in rows if "met" in row]


def test_within_both_bounds_is_met_and_over_either_is_not():
    section = shapes_report.memory_section(
        {"fp32": run(growth=10, peak=1400), "int8": run(growth=10, peak=2100)}
    )
    assert verdicts(section) == ["met", "**not met**"]  # INT8's bound is 2,048 MiB
    grown = shapes_report.memory_section({"fp32": run(growth=65, peak=1300)})
    assert verdicts(grown) == ["**not met**"]  # more than 64 MiB over the last 3/4
    assert "| FP32 | 555x416 | 30 | 250 ms |" in section


def test_no_shapes_measured_is_no_section():
    assert shapes_report.memory_section({}) == ""
    assert shapes_report.canvases_section({}) == ""
