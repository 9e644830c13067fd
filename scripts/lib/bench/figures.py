"""One benchmark run's figures, read: what the report, its targets and its cost table look up."""

import statistics
from typing import Any


class RunFigures:
    """The figures ``sm-detect bench`` measured (its JSON), with the lookups every section uses."""

    def __init__(self, figures: dict[str, Any]) -> None:
        self.figures = figures
        self.in_process: dict[str, Any] = figures["in_process"]
        self.served: dict[str, Any] = figures["served"]
        self.images: list[str] = figures["images"]
        self.reference = "768x576" if "768x576" in self.images else self.images[0]

    def forward(self, label: str, mode: str = "aspect") -> dict[str, Any]:
        return self.in_process["forward"][f"{label}/{mode}"]

    def forward_seconds(self, label: str, mode: str = "aspect", precision: str = "fp32") -> float:
        runs = self.in_process["forward" if precision == "fp32" else f"forward_{precision}"]
        return statistics.median(runs[f"{label}/{mode}"]["seconds"])

    @property
    def lower_precisions(self) -> list[str]:
        """INT8 and BF16, those of them this run measured."""
        return [p for p in ("int8", "bf16") if f"forward_{p}" in self.in_process]

    @property
    def fp32_peak(self) -> float:
        return self.in_process["peaks"]["fp32_gops"]

    def seed_seconds(self, label: str) -> float:
        return statistics.median(self.in_process["seed"][label])

    def rate(self, stack: str, label: str, concurrency: int) -> float:
        return self.served[stack]["sizes"][label]["concurrency"][concurrency]["images_per_second"]
