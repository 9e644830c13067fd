"""The benchmark's figures as Markdown: what ``sm-detect bench`` prints and writes.

Every ratio is between figures of the same run; every time is a median unless marked p90/p99.
"""

import math
from statistics import median
from typing import Any

from scripts.lib.bench import cost, shapes_report, targets
from scripts.lib.bench.figures import RunFigures
from scripts.lib.bench.markdown import table

# GluonCV's model zoo, yolo3_darknet53_coco, COCO val2017 mAP[.5:.95] at each square input
PUBLISHED_AP = {"square320": 33.6, "square416": 36.0, "square608": 37.0}
AP_SOURCE = "https://cv.gluon.ai/model_zoo/detection.html"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


class Report(RunFigures):
    """The run's figures as the Markdown report's sections."""

    def __init__(self, figures: dict[str, Any], prices: cost.Prices | None = None) -> None:
        super().__init__(figures)
        self.prices = prices or cost.Prices.load()

    def markdown(self, command: str) -> str:
        parts = [
            "# Benchmarks",
            f"Measured by `{command}`; every ratio is between figures of the same run.",
            self.machine_section(),
            cost.section(self, self.prices),
            self.in_process_section(),
            self.profile_section(),
            self.latency_section(),
            self.throughput_section(),
            self.start_section(),
            self.server_histogram_section(),
            self.peers_section(),
            self.modes_section(),
            shapes_report.memory_section(self.figures.get("shapes")),
            shapes_report.canvases_section(self.figures.get("canvases")),
            targets.section(self),
        ]
        return "\n\n".join(part for part in parts if part) + "\n"

    def machine_section(self) -> str:
        m = self.figures["machine"]
        settings = self.figures["settings"]
        return "\n".join(
            [
                "## Machine",
                f"- CPU: {m['cpu']} ({m['vendor']}, family {m['family']}), {m['cores']} cores, "
                f"flags: {', '.join(m['flags']) or 'none of note'}",
                f"- CPU kind: {m['kind']}; oneDNN's ISA in the workers: `{m['isa']}`",
                f"- Theoretical FP32 peak: {m['theoretical_gflops']} GFLOP/s = {m['cores']} cores "
                f"x {m['fp32_lanes']} lanes x 2 FMA units x 2 FLOPs x {m['clock_ghz']} GHz "
                "(/proc/cpuinfo's clock, which may be the base clock: a measured rate above it "
                "means the cores boost)",
                f"- Practical peaks, measured by oneDNN (MXNet's own kernels) on a 1024-channel "
                f"1x1 convolution of a 64 x 64 map, best of repeated runs on {m['cores']} threads: "
                f"FP32 {self.fp32_peak:.1f} GFLOP/s, INT8 "
                f"{self.in_process['peaks']['int8_gops']:.1f} GOP/s, BF16 "
                f"{self.in_process['peaks'].get('bf16_gops', 0):.1f} GFLOP/s",
                f"- Runs: {settings['repeats']} sequential requests or forward passes per "
                f"latency figure; {settings['rounds']} rounds of {settings['per_client']} "
                "requests per client per throughput figure",
            ]
        )

    def in_process_section(self) -> str:
        peak = self.fp32_peak
        theoretical = self.figures["machine"]["theoretical_gflops"]
        rows = []
        for label in self.images:
            forward = self.forward(label)
            seconds = self.forward_seconds(label)
            gflops = forward["flops"] / seconds / 1e9
            rows.append(
                [
                    label,
                    "x".join(str(side) for side in forward["input"]),
                    ms(self.seed_seconds(label)),
                    ms(seconds),
                    f"{self.seed_seconds(label) / seconds:.2f}",
                    f"{forward['flops'] / 1e9:.1f}",
                    f"{gflops:.0f}",
                    f"{gflops / peak:.0%}",
                    f"{gflops / theoretical:.0%}" if theoretical else "n/a",
                ]
                + [
                    cell
                    for precision in self.lower_precisions
                    for cell in self.lower_precision_cells(label, precision, forward, seconds)
                ]
            )
        header = [
            "image",
            "input",
            "A: seed pipeline",
            "B: bare forward",
            "A / B",
            "conv GFLOP",
            "B GFLOP/s",
            "of oneDNN FP32 peak",
            "of theoretical",
        ] + [
            column
            for precision in self.lower_precisions
            for column in (
                f"{precision.upper()} forward",
                f"B / {precision.upper()}",
                "of its peak",
            )
        ]
        return (
            "## In process: A, the seed's pipeline, and B, the bare forward\n\n"
            + table(header, rows)
            + "\n\n'Of its peak': the forward's convolution operations per second over oneDNN's "
            "practical peak in the same precision (the machine section)."
        )

    def lower_precision_cells(
        self, label: str, precision: str, forward: dict[str, Any], fp32_seconds: float
    ) -> list[str]:
        seconds = self.forward_seconds(label, precision=precision)
        peak = self.in_process["peaks"].get(f"{precision}_gops")
        share = forward["flops"] / seconds / 1e9 / peak if peak else None
        return [ms(seconds), f"{fp32_seconds / seconds:.2f}", f"{share:.0%}" if share else "n/a"]

    @staticmethod
    def profiles_markdown(figures: dict[str, Any]) -> str:
        """The machine's ISA and the profile section alone (``sm-detect bench --profile``)."""
        machine = figures["machine"]
        return (
            f"{machine['cpu']}, {machine['cores']} cores: {machine['kind']}, oneDNN ISA "
            f"`{machine['isa']}`\n\n" + Report.profile_markdown(figures.get("profile"))
        )

    def profile_section(self) -> str:
        return self.profile_markdown(self.figures.get("profile"))

    @staticmethod
    def profile_markdown(profiles: dict[str, Any] | None) -> str:
        if not profiles:
            return ""
        parts = [
            "## Where the forward's time goes, by oneDNN's own log\n\n"
            "`DNNL_VERBOSE=1` in a process loaded as the server loads, after warm-up, on the "
            "555x416 canvas: each primitive and implementation, ms per forward pass "
            "(`sm-detect bench --profile` prints the same)."
        ]
        for precision, found in profiles.items():
            rows = [
                [primitive, implementation, f"{ms_each:.1f}", f"{calls:g}", f"{share:.0%}"]
                for primitive, implementation, ms_each, calls, share in found["rows"][:8]
            ]
            parts.append(
                f"**{precision.upper()}**: {found['forward_ms']:.1f} ms of oneDNN time a forward, "
                f"reference kernels {found['reference_share']:.1%}; ISA: {found['isa']}\n\n"
                + table(["primitive", "implementation", "ms", "calls", "share"], rows)
            )
        return "\n\n".join(parts)

    def peers_section(self) -> str:
        peers = self.in_process.get("peers")
        if not peers:
            return ""
        width, height = peers["input"]
        ours = median(peers["mxnet_fp32"])
        rows = [["ours: MXNet FP32 (oneDNN)", ms(ours), "1.00"]]
        for precision in ("int8", "bf16"):
            if f"mxnet_{precision}" in peers:
                seconds = median(peers[f"mxnet_{precision}"])
                rows.append(
                    [
                        f"ours: MXNet {precision.upper()} (oneDNN)",
                        ms(seconds),
                        f"{ours / seconds:.2f}",
                    ]
                )
        openvino = peers.get("openvino_fp32")
        if openvino:
            seconds = median(openvino["seconds"])
            rows.append(
                [f"D: OpenVINO {openvino['version']} FP32", ms(seconds), f"{ours / seconds:.2f}"]
            )
        note = (
            ""
            if openvino
            else "\n\nOpenVINO is not installed here (`pip install -r requirements-dev.txt`)."
        )
        return (
            "## What a CPU user would pick instead: the same trunk "
            f"({width}x{height}) in OpenVINO\n\n"
            "The darknet53 trunk and the three output convolutions, without the decoding and NMS "
            "(OpenVINO cannot compile the whole graph), exported through MXNet's ONNX exporter; "
            "OpenVINO asked for f32 (its default hint picks bf16 where the CPU has it). OpenVINO "
            "INT8 needs NNCF, whose releases that install beside MXNet's numpy 1.23 predate this "
            "OpenVINO: not measured.\n\n"
            + table(["engine", "forward", "speed vs MXNet FP32"], rows)
            + note
        )

    def latency_section(self) -> str:
        rows = []
        for stack, served in self.served.items():
            for label in self.images:
                latency = served["sizes"][label]["latency"]
                rows.append(
                    [
                        stack,
                        label,
                        ms(latency[50]),
                        ms(latency[90]),
                        ms(latency[99]),
                        f"{latency[50] / self.forward_seconds(label):.3f}",
                    ]
                )
        header = ["stack", "image", "p50", "p90", "p99", "p50 / B"]
        return (
            "## Served latency, one request at a time (JPEG in, JSON out, over HTTP)\n\n"
            + self.stack_legend()
            + "\n\n"
            + table(header, rows)
        )

    def stack_legend(self) -> str:
        return "\n".join(f"- `{stack}`: {served['title']}" for stack, served in self.served.items())

    def throughput_section(self) -> str:
        levels = self.figures["settings"]["concurrency"]
        rows = []
        for stack, served in self.served.items():
            for label in self.images:
                at = served["sizes"][label]["concurrency"]
                top = at[max(levels)]
                rows.append(
                    [stack, label]
                    + [f"{at[level]['images_per_second']:.2f}" for level in levels]
                    + [
                        ms(top["p99"]) if top["p99"] is not None else "n/a",
                        sum(at[level]["errors_5xx"] for level in levels),
                        f"{1 / self.forward_seconds(label):.2f}",
                    ]
                )
        header = (
            ["stack", "image"]
            + [f"c={level}" for level in levels]
            + [f"p99 at c={max(levels)}", "5xx", "1 / B"]
        )
        return "## Served throughput, images per second at each concurrency\n\n" + table(
            header, rows
        )

    def server_histogram_section(self) -> str:
        """What each of our servers counted itself (its /metrics) over the whole run."""
        measured = {
            stack: served["server_histogram"]
            for stack, served in self.served.items()
            if "server_histogram" in served
        }
        if not measured:
            return ""
        bounds = sorted(
            {bound for h in measured.values() for bound, n in h["buckets"] if n},
            key=lambda bound: math.inf if bound is None else bound,
        )
        stages = sorted({stage for h in measured.values() for stage in h["stage_means"]})
        rows = []
        for stack, histogram in measured.items():
            counts = dict(map(tuple, histogram["buckets"]))
            means = histogram["stage_means"]
            rows.append(
                [stack, int(histogram["count"]), self.served[stack]["requests_posted"]]
                + [int(counts.get(bound, 0)) for bound in bounds]
                + [ms(means[stage]) if stage in means else "" for stage in stages]
            )
        header = (
            ["stack", "requests counted", "requests the bench sent"]
            + [f"≤ {bound:g} s" if bound is not None else "more" for bound in bounds]
            + [f"mean {stage}" for stage in stages]
        )
        return (
            "## The server's own latency histogram (its /metrics, every request of the run)\n\n"
            + table(header, rows)
            + "\n\nEach bucket holds the requests whose whole time at the front door was at most"
            " its bound and more than the bound before it; the stage means are the workers'."
        )

    def start_section(self) -> str:
        rows = []
        for stack, served in self.served.items():
            rss = served["peak_rss_bytes"]
            rows.append(
                [
                    stack,
                    f"{served['cold_start']['ping']:.1f} s",
                    f"{served['cold_start']['first_answer']:.1f} s",
                    served["workers"],
                    f"{max(rss) / 2**20:.0f} MiB" if rss else "n/a",
                ]
            )
        header = ["stack", "first /ping 200", "first answer", "workers", "peak RSS per worker"]
        return (
            "## Cold start (process start to ...) and memory\n\n"
            + table(header, rows)
            + "\n\nAWS's toolkit answers /ping before its workers have loaded the model."
        )

    def modes_section(self) -> str:
        stacks = [stack for stack in self.served if self.served[stack].get("modes")]
        if not stacks:
            return ""
        seed_rate = 1 / self.seed_seconds(self.reference)
        rows = []
        for stack in stacks:
            precision = {"ours-int8": "int8", "ours-bf16": "bf16"}.get(stack, "fp32")
            for mode, figures in self.served[stack]["modes"].items():
                rows.append(self.mode_row(stack, precision, mode, figures, seed_rate))
        busy = max(next(iter(self.served[stacks[0]]["modes"].values()))["images_per_second"])
        header = [
            "stack",
            "mode",
            "input",
            "B: forward",
            "served p50",
            "images/s c=1",
            f"images/s c={busy}",
            "c=1 vs A",
            "published COCO AP (FP32)",
        ]
        return (
            f"## Speed/accuracy modes, per request, on the {self.reference} image\n\n"
            + table(header, rows)
            + f"\n\n'c=1 vs A': served images per second over the seed pipeline's in process "
            f"({seed_rate:.2f}/s). AP: {AP_SOURCE} (mAP 0.5:0.95, COCO val2017)."
        )

    def mode_row(
        self, stack: str, precision: str, mode: str, figures: dict[str, Any], seed_rate: float
    ) -> list[object]:
        forward = self.forward(self.reference, mode)
        rates = figures["images_per_second"]
        busy = max(rates)
        return [
            stack,
            mode,
            "x".join(str(side) for side in forward["input"]),
            ms(self.forward_seconds(self.reference, mode, precision)),
            ms(figures["latency"][50]),
            f"{rates[1]:.2f}",
            f"{rates[busy]:.2f}",
            f"{rates[1] / seed_rate:.2f}",
            PUBLISHED_AP.get(mode, "as GluonCV's `load_test`"),
        ]
