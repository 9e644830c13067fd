"""What a million detections cost: the benchmark's images per second turned into money on the
instance types people pick, beside the managed APIs' per-image prices.

The rate is measured here, per physical core, at the concurrency that served the most; an
instance is assumed to serve that rate on each of its cores (its CPU is the same class: AVX-512
with VNNI, which c5 has from Cascade Lake on). An always-on endpoint costs the same every month
whatever it serves, so the managed API is cheaper below a monthly volume and the endpoint above
it: that volume is the break-even.
"""

import dataclasses
import math
import os
import tomllib

from scripts.lib.bench.markdown import table
from scripts.lib.errors import CommandError

DEFAULT_PRICES = os.path.join(os.path.dirname(__file__), "prices.toml")
MILLION = 1_000_000


@dataclasses.dataclass(frozen=True)
class ManagedApi:
    name: str
    source: str
    read: str
    note: str
    tiers: tuple  # ((images a month up to, USD per image), ...) in order

    def monthly_usd(self, images):
        """What ``images`` in one month cost, tier by tier; None beyond the recorded tiers."""
        usd, floor = 0.0, 0
        for bound, price in self.tiers:
            usd += (min(images, bound) - floor) * price
            if images <= bound:
                return usd
            floor = bound
        return None

    def break_even(self, monthly_usd):
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
    def usd_per_million(self):
        """At the first paid tier."""
        return next(price for _, price in self.tiers if price) * MILLION


@dataclasses.dataclass(frozen=True)
class Prices:
    region: str
    hours_per_month: float
    instances: tuple  # dicts: name, usd_per_hour, vcpus, cores, cpu
    instances_source: str
    instances_read: str
    apis: tuple  # ManagedApi

    @classmethod
    def load(cls, path=DEFAULT_PRICES):
        try:
            with open(path, "rb") as file:
                return cls.from_toml(tomllib.load(file))
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
            raise CommandError(f"cannot read prices from {path}: {error!r}", "prices") from error

    @classmethod
    def from_toml(cls, data):
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


def best_rate(concurrency_figures):
    """(images per second, concurrency) at the concurrency that served the most."""
    level, figures = max(concurrency_figures.items(), key=lambda item: item[1]["images_per_second"])
    return figures["images_per_second"], level


def per_core_rates(report, stacks=("ours", "ours-int8", "aws")):
    """{stack: (images/s per physical core, concurrency, images/s)} on the reference image."""
    cores = report.figures["machine"].get("physical_cores") or report.figures["machine"]["cores"]
    rates = {}
    for stack in stacks:
        if stack in report.served:
            rate, level = best_rate(report.served[stack]["sizes"][report.reference]["concurrency"])
            rates[stack] = (rate / cores, level, rate)
    return rates


def usd(value):
    return f"${value:,.2f}" if value >= 1 else f"${value:.3f}"


def images(count):
    if count is None:
        return "beyond the recorded tiers"
    return f"{count / MILLION:,.2f} M" if count >= MILLION else f"{count / 1000:,.0f} k"


def section(report, prices):
    rates = per_core_rates(report)
    if not rates:
        return ""
    cores = report.figures["machine"].get("physical_cores") or report.figures["machine"]["cores"]
    rows = []
    for stack, (per_core, _, _) in rates.items():
        for instance in prices.instances:
            rate = per_core * instance["cores"]
            monthly = instance["usd_per_hour"] * prices.hours_per_month
            capacity = rate * 3600 * prices.hours_per_month
            row = [
                stack,
                instance["name"],
                f"{instance['vcpus']} vCPU / {instance['cores']} cores",
                f"${instance['usd_per_hour']:.3f}",
                f"{rate:.2f}",
                usd(instance["usd_per_hour"] / (rate * 3600) * MILLION),
                f"{usd(monthly)} (up to {images(capacity)} images)",
            ]
            for api in prices.apis:
                volume = api.break_even(monthly)
                beyond = volume is not None and volume > capacity
                row.append(images(volume) + (" (more than it serves)" if beyond else ""))
            rows.append(row)
    header = [
        "stack",
        "instance",
        "size",
        "per hour",
        "images/s (assumed)",
        "per million images, fully loaded",
        "always on, a month",
    ] + [f"break-even vs {api.name}, images a month" for api in prices.apis]
    measured = "; ".join(
        f"`{stack}` {rate:.2f} images/s at c={level} = {per_core:.2f} per core"
        for stack, (per_core, level, rate) in rates.items()
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
        f"Measured here on {cores} physical cores, {report.reference} JPEGs, at the concurrency "
        f"that served the most: {measured}. An instance is assumed to serve that rate per "
        "physical core (its CPU has AVX-512 VNNI too; hyperthreads are not counted as cores). "
        f"Instance prices: {prices.instances_source}, read {prices.instances_read}, "
        f"{prices.region}, on demand; a month is {prices.hours_per_month:g} hours. "
        "'Break-even': the monthly volume above which the always-on endpoint is the cheaper.\n\n"
        + table(header, rows)
        + "\n\n"
        + apis
    )
