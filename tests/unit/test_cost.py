"""Cost per million images and break-even volumes, against sums worked by hand."""

import re
import types

import pytest

from inference import cpu
from scripts.lib.bench import cost
from scripts.lib.errors import CommandError

REKOGNITION = cost.ManagedApi("R", "source", "2026-12-03", "", ((1_000_000, 0.001),))
VISION = cost.ManagedApi(
    "V", "source", "2026-12-03", "", ((1_000, 0.0), (5_000_000, 0.00225), (float("inf"), 0.0015))
)
C5 = {
    "name": "ml.c5.xlarge",
    "usd_per_hour": 0.204,
    "vcpus": 4,
    "cores": 2,
    "cpu": "x",
    "kind": "avx512_core_vnni",
}
C7I = {**C5, "name": "ml.c7i.xlarge", "usd_per_hour": 0.21, "kind": "avx512_core_amx"}


def test_a_tiered_bill_charges_each_tier_its_own_price():
    # 4,999,000 paid units at $2.25 per thousand, then 1,000,000 at $1.50 per thousand
    assert VISION.monthly_usd(6_000_000) == pytest.approx(11_247.75 + 1_500.0)
    assert VISION.monthly_usd(1_000) == 0.0
    assert REKOGNITION.monthly_usd(2_000_000) is None  # beyond what is recorded


def test_break_even_is_the_volume_whose_bill_is_the_endpoints_month():
    month = 0.204 * 730  # $148.92: one ml.c5.xlarge always on
    assert REKOGNITION.break_even(month) == 148_920
    # the first 1,000 free, then 148.92 / 0.00225 = 66,186.7 units, rounded up
    assert VISION.break_even(month) == 67_187
    assert REKOGNITION.break_even(5_000.0) is None  # more than the recorded tier's $1,000


def report(rates, physical_cores=2, isa="avx512_core_vnni"):
    """What the cost section reads of a benchmark report: images/s per stack and concurrency."""
    served = {
        stack: {
            "sizes": {
                "768x576": {
                    "concurrency": {
                        level: {"images_per_second": rate} for level, rate in by_level.items()
                    }
                }
            }
        }
        for stack, by_level in rates.items()
    }
    machine = {
        "cores": physical_cores,
        "physical_cores": physical_cores,
        "cpu": "a CPU",
        "isa": isa,
    }
    figures = {"machine": machine, "date": "2026-12-05"}
    return types.SimpleNamespace(served=served, reference="768x576", figures=figures)


def cells(section, instance):
    row = next(line for line in section.splitlines() if line.startswith(f"| {instance} "))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_the_section_scales_the_best_concurrency_per_core_and_prices_a_million():
    prices = cost.Prices("here", 730, (C5,), "page", "2026-12-03", (REKOGNITION,))
    # the best of c=1 (3/s) and c=4 (4/s): 2 per core here, so 4/s on c5.xlarge's 2 cores;
    # a million images take 250,000 s = 69.44 h at $0.204 = $14.17; INT8 8/s: $7.08
    measured = report({"ours": {1: 3.0, 4: 4.0}, "ours-int8": {1: 8.0}})
    row = cells(cost.section(measured, prices, kept_rates={}), "ml.c5.xlarge")
    assert row[2] == "`avx512_core_vnni`"
    assert row[4:7] == ["$14.17 (4.00/s)", "$7.08 (8.00/s)", "not measured"]
    assert row[7] == "$148.92 (up to 21.02 M images)"  # 8/s for 730 h, its best precision
    assert row[8] == "149 k"
    assert row[9] == "this run, a CPU, 2 cores, 2026-12-05"


def test_each_instance_takes_the_rates_of_its_own_kind_of_cpu_or_says_none_were_measured():
    prices = cost.Prices("here", 730, (C5, C7I), "page", "2026-12-03", (REKOGNITION,))
    kept = {"avx512_core_amx": {"machine": "a Xeon", "date": "2026-12-01", "fp32": 1.0}}
    section = cost.section(report({"ours": {1: 0.5}}, isa="avx512_core_bf16"), prices, kept)
    # this run's kind is neither instance's: c5's kind was never measured, c7i's was
    assert cells(section, "ml.c5.xlarge")[4] == "not measured on `avx512_core_vnni`"
    assert cells(section, "ml.c5.xlarge")[-1] == "no run on this kind of CPU yet"
    # 1/s per core on 2 cores: a million in 500,000 s = 138.9 h at $0.21 = $29.17
    assert cells(section, "ml.c7i.xlarge")[4] == "$29.17 (2.00/s)"
    assert cells(section, "ml.c7i.xlarge")[-1] == "a Xeon, 2026-12-01"


def test_a_run_keeps_its_rates_as_its_kinds(tmp_path):
    rates = tmp_path / "rates.json"
    rates.write_text('{"kinds": {"avx512_core_amx": {"machine": "old", "date": "x", "fp32": 9}}}')
    cost.record_rates(report({"ours": {1: 3.0}}, isa="avx512_core_amx"), str(rates))
    cost.record_rates(report({"ours": {1: 1.0}}, isa="avx512_core_vnni"), str(rates))
    kept = cost.load_rates(str(rates))
    assert kept["avx512_core_amx"] == {
        "machine": "a CPU, 2 cores",
        "date": "2026-12-05",
        "fp32": 1.5,
    }
    assert kept["avx512_core_vnni"]["fp32"] == 0.5


def test_a_break_even_beyond_what_one_instance_serves_says_so():
    prices = cost.Prices("here", 730, (C5,), "page", "2026-12-03", (REKOGNITION,))
    # 0.01 images/s per core: 52,560 images a month on 2 cores, below the 148,920 break-even
    section = cost.section(report({"ours": {1: 0.02}}), prices, kept_rates={})
    assert "149 k (more than it serves)" in section


def test_the_recorded_prices_load_and_each_says_where_and_when_it_was_read():
    prices = cost.Prices.load()
    assert {instance["name"] for instance in prices.instances} >= {
        "ml.c5.xlarge",
        "ml.c6i.xlarge",
        "ml.c7i.xlarge",
        "ml.m5.large",
    }
    for instance in prices.instances:
        assert 0 < instance["cores"] <= instance["vcpus"]
        assert instance["kind"] in cpu.NAMES
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", prices.instances_read)
    for api in prices.apis:
        assert api.source.startswith("https://") and re.fullmatch(r"\d{4}-\d\d-\d\d", api.read)
        bounds = [bound for bound, _ in api.tiers]
        assert bounds == sorted(bounds)


def test_a_prices_file_that_cannot_be_read_is_named(tmp_path):
    broken = tmp_path / "prices.toml"
    broken.write_text("region = \n")
    with pytest.raises(CommandError, match=r"prices\.toml"):
        cost.Prices.load(str(broken))
    with pytest.raises(CommandError, match=r"missing\.toml"):
        cost.Prices.load(str(tmp_path / "missing.toml"))
