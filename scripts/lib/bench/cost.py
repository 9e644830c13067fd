"""What a million detections cost: images per second turned into money on the instance types
people pick, beside the managed APIs' per-image prices.

A rate is measured per physical core, at the concurrency that served the most, on one kind of
CPU (oneDNN's ISA: AMX, AVX-512 with BF16, VNNI only): an instance is assumed to serve that rate
on each of its cores only where its CPU is of the kind the rate was measured on. Rates measured
on each kind are kept (``measured-rates.json``: the date and the machine with each; a full
``make bench`` replaces its kind's), and an instance family whose kind was never measured says so
instead of borrowing another kind's rate. An always-on endpoint costs the same every month
whatever it serves, so the managed API is cheaper below a monthly volume and the endpoint above
it: that volume is the break-even.
"""

import dataclasses
import json
import math
import os
import tomllib
from typing import Any

from scripts.lib.bench.figures import RunFigures
from scripts.lib.bench.markdown import table
from scripts.lib.errors import CommandError

DEFAULT_PRICES = os.path.join(os.path.dirname(__file__), "prices.toml")
DEFAULT_RATES = os.path.join(os.path.dirname(__file__), "measured-rates.json")
MILLION = 1_000_000
STACKS = {"fp32": "ours", "int8": "ours-int8", "bf16": "ours-bf16"}  # the served precisions


@dataclasses.dataclass(frozen=True)
class ManagedApi:
    name: str
    source: str
    read: str
    note: str
    tiers: tuple[tuple[int, float], ...]  # ((images a month up to, USD per image), ...) in order

    def monthly_usd(self, images: int) -> float | None:
        """What ``images`` in one month cost, tier by tier; None beyond the recorded tiers."""
        usd, floor = 0.0, 0
        for bound, price in self.tiers:
            usd += (min(images, bound) - floor) * price
            if images <= bound:
                return usd
            floor = bound
        return None

    def break_even(self, monthly_usd: float) -> int | None:
        """The monthly volume at which the API costs ``monthly_usd``; None beyond its tiers."""
        usd, floor = 0.0, 0
        for bound, price in self.tiers:
            tier_usd = (bound - floor) * price
            if price and usd + tier_usd >= monthly_usd:
                return floor + math.ceil((monthly_usd - usd) / price)
            usd += tier_usd
            floor = bound
        return None

    @property
    def usd_per_million(self) -> float:
        """At the first paid tier."""
        return next(price for _, price in self.tiers if price) * MILLION


@dataclasses.dataclass(frozen=True)
class Prices:
    region: str
    hours_per_month: float
    instances: tuple[dict[str, Any], ...]  # name, usd_per_hour, vcpus, cores, cpu, kind
    instances_source: str
    instances_read: str
    apis: tuple[ManagedApi, ...]

    @classmethod
    def load(cls, path: str = DEFAULT_PRICES) -> "Prices":
        try:
            with open(path, "rb") as file:
                return cls.from_toml(tomllib.load(file))
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
            raise CommandError(f"cannot read prices from {path}: {error!r}", "prices") from error

    @classmethod
    def from_toml(cls, data: dict[str, Any]) -> "Prices":
        return cls(
            region=data["region"],
            hours_per_month=data["hours_per_month"],
            instances=tuple(data["instances"]["types"]),
            instances_source=data["instances"]["source"],
            instances_read=data["instances"]["read"],
            apis=tuple(
                ManagedApi(
                    name=api["name"],
                    source=api["source"],
                    read=api["read"],
                    note=api.get("note", ""),
                    tiers=tuple((bound, price) for bound, price in api["tiers"]),
                )
                for api in data["apis"]
            ),
        )


def best_rate(concurrency_figures: dict[int, dict[str, Any]]) -> tuple[float, int]:
    """(images per second, concurrency) at the concurrency that served the most."""
    level, figures = max(concurrency_figures.items(), key=lambda item: item[1]["images_per_second"])
    return figures["images_per_second"], level


def this_run(report: RunFigures) -> dict[str, Any]:
    """This run's rates on its CPU kind: {"machine", "date", precision: images/s per core}."""
    machine = report.figures["machine"]
    cores = machine.get("physical_cores") or machine["cores"]
    measured: dict[str, Any] = {
        "machine": f"{machine['cpu']}, {cores} cores",
        "date": report.figures.get("date", ""),
    }
    for precision, stack in STACKS.items():
        if stack in report.served:
            rate, _ = best_rate(report.served[stack]["sizes"][report.reference]["concurrency"])
            measured[precision] = round(rate / cores, 3)
    return measured


def load_rates(path: str = DEFAULT_RATES) -> dict[str, Any]:
    """{CPU kind (oneDNN's ISA): the rates measured on it}, as kept."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)["kinds"]
    except (OSError, ValueError, KeyError) as error:
        raise CommandError(f"cannot read measured rates from {path}: {error!r}") from error


def record_rates(report: RunFigures, path: str = DEFAULT_RATES) -> None:
    """Keep this run's rates as its CPU kind's, in place of an earlier run's on that kind."""
    kinds = load_rates(path)
    kinds[report.figures["machine"]["isa"]] = this_run(report)
    with open(path, "w", encoding="utf-8") as file:
        json.dump({"kinds": dict(sorted(kinds.items()))}, file, indent=2)
        file.write("\n")


def usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:.3f}"


def images(count: int | None) -> str:
    if count is None:
        return "beyond the recorded tiers"
    return f"{count / MILLION:,.2f} M" if count >= MILLION else f"{count / 1000:,.0f} k"


def section(report: RunFigures, prices: Prices, kept_rates: dict[str, Any] | None = None) -> str:
    """The cost table: each instance priced at the rates measured on its own CPU kind, this
    run's for the kind it ran on, ``kept_rates`` (``load_rates()``) for the others."""
    rates = dict(kept_rates if kept_rates is not None else load_rates())
    isa = report.figures["machine"].get("isa", "")
    rates[isa] = this_run(report)
    precisions = list(STACKS)
    rows = []
    for instance in prices.instances:
        kind = instance["kind"]
        monthly = instance["usd_per_hour"] * prices.hours_per_month
        found = rates.get(kind)
        row = [
            instance["name"],
            f"{instance['vcpus']} vCPU / {instance['cores']} cores",
            f"`{kind}`",
            f"${instance['usd_per_hour']:.3f}",
        ]
        if not found:
            rows.append(row + [f"not measured on `{kind}`"] * len(precisions) + [usd(monthly)])
            rows[-1] += ["n/a"] * len(prices.apis) + ["no run on this kind of CPU yet"]
            continue
        for precision in precisions:
            per_core = found.get(precision)
            if per_core:
                rate = per_core * instance["cores"]
                row.append(
                    f"{usd(instance['usd_per_hour'] / (rate * 3600) * MILLION)} ({rate:.2f}/s)"
                )
            else:
                row.append("not measured")
        capacity = max(found.get(p) or 0 for p in precisions) * instance["cores"] * 3600
        capacity *= prices.hours_per_month
        row.append(f"{usd(monthly)} (up to {images(capacity)} images)")
        for api in prices.apis:
            volume = api.break_even(monthly)
            beyond = volume is not None and volume > capacity
            row.append(images(volume) + (" (more than it serves)" if beyond else ""))
        row.append(("this run, " if kind == isa else "") + f"{found['machine']}, {found['date']}")
        rows.append(row)
    header = (
        ["instance", "size", "CPU kind", "per hour"]
        + [f"{p.upper()} per million images (images/s)" for p in precisions]
        + ["always on, a month"]
        + [f"break-even vs {api.name}, images a month" for api in prices.apis]
        + ["rates measured on"]
    )
    apis = table(
        ["managed API", "per million images", "source, date"],
        [
            [api.name, f"{usd(api.usd_per_million)} ({api.note})", f"{api.source}, read {api.read}"]
            for api in prices.apis
        ],
    )
    return (
        "## What a million detections cost\n\n"
        f"Images per second per physical core at the concurrency that served the most, "
        f"{report.reference} JPEGs, fully loaded; each instance at the rates measured on its own "
        "kind of CPU (oneDNN's ISA), never another's. Instance prices: "
        f"{prices.instances_source}, read {prices.instances_read}, {prices.region}, on demand; a "
        f"month is {prices.hours_per_month:g} hours. 'Break-even': the monthly volume above "
        "which the always-on endpoint is the cheaper.\n\n" + table(header, rows) + "\n\n" + apis
    )
