"""One benchmark run: the in-process baselines, then each server under the same load, in turn.

Only one model server may run on a machine at a time (AWS's toolkit refuses to start a second),
so the servers are measured one after another, each on an otherwise idle machine.
"""

import dataclasses
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from container import settings as serving
from inference import model, preprocess
from inference.headers import CUSTOM_ATTRIBUTES
from inference.metadata import ModelMetadata
from scripts.lib.archives import archive
from scripts.lib.bench import canvases, images, load, machine, servers, shapes
from scripts.lib.errors import CommandError
from scripts.lib.local.processes import Server
from scripts.lib.progress import say, step

JPEG = {"Content-Type": "image/jpeg", "Accept": "application/json"}


@dataclasses.dataclass(frozen=True)
class Settings:
    model: str  # an archive from `sm-detect package`, or its unpacked directory
    photo: str | None  # the photograph the images are made from
    sizes: tuple[tuple[int, int], ...] = images.SIZES
    repeats: int = 15  # sequential requests for latency; forward passes in process
    concurrency: tuple[int, ...] = (1, 2, 4, 8)
    rounds: int = 3  # load rounds per concurrency; images per second is their median
    per_client: int = 2  # requests per client in each round
    modes: tuple[str, ...] = preprocess.MODES
    stacks: tuple[str, ...] = ("aws", "ours", "ours-throughput", "ours-int8", "ours-bf16")
    profile_runs: int = 5  # forward passes whose oneDNN log is summed, per precision
    shapes: int = 240  # photos of distinct sizes sent to each precision's server (0: none)
    # our servers' default mode; None: their own (aspect, every canvas warmed at start)
    server_mode: str | None = None

    @classmethod
    def quick(cls, model: str, photo: str | None) -> "Settings":
        """A smoke run: one image size, two requests per figure, four servers."""
        return cls(
            model=model,
            photo=photo,
            sizes=((640, 480),),
            repeats=2,
            concurrency=(1, 2),
            rounds=1,
            per_client=1,
            modes=("aspect", "square320"),
            stacks=("aws", "ours", "ours-int8", "ours-bf16"),
            profile_runs=1,
            shapes=0,  # the shape-diverse part has its own command, and its own tests
            server_mode="square320",  # one canvas to warm at each start, not thirteen
        )

    @classmethod
    def shapes_only(cls, model: str, photo: str | None, count: int) -> "Settings":
        """Only memory under shape-diverse traffic, and the default mode against GluonCV's."""
        return cls(model=model, photo=photo, sizes=(), stacks=(), shapes=count)


def benchmark(
    model: str,
    photo: str | None,
    output: str,
    json_path: str | None = None,
    quick: bool = False,
    shapes_only: int | None = None,
    prices_path: str | None = None,
    profile_only: bool = False,
) -> None:
    """Measure, print the report and write it to ``output`` (and the figures to ``json_path``);
    with ``shapes_only`` (a count), only the shape-diverse part, printed. Costs are reckoned
    from ``prices_path`` (default: the prices the project records)."""
    from scripts.lib.bench import cost, shapes_report
    from scripts.lib.bench.report import Report

    if not os.path.exists(model):
        raise CommandError(
            f"{model} does not exist; create it with `sm-detect package --weights random`"
        )
    if profile_only:
        settings = Settings(model=model, photo=photo, sizes=images.SIZES[:1])
        with tempfile.TemporaryDirectory(prefix="sm-detect-bench-") as work_dir:
            figures = BenchRun(settings, work_dir).measure_profiles()
        print(Report.profiles_markdown(figures))
        return
    if shapes_only:
        settings = Settings.shapes_only(model, photo, shapes_only)
        with tempfile.TemporaryDirectory(prefix="sm-detect-bench-") as work_dir:
            figures = BenchRun(settings, work_dir).measure_shapes()
        print(
            shapes_report.memory_section(figures["shapes"])
            + "\n\n"
            + shapes_report.canvases_section(figures["canvases"])
        )
        return
    prices = cost.Prices.load(prices_path or cost.DEFAULT_PRICES)  # a bad file fails before hours
    settings = Settings.quick(model, photo) if quick else Settings(model=model, photo=photo)
    with tempfile.TemporaryDirectory(prefix="sm-detect-bench-") as work_dir:
        figures = BenchRun(settings, work_dir).measure()
    if json_path:  # first: the figures of an hour's run outlive a fault in the report
        with open(json_path, "w", encoding="utf-8") as file:
            json.dump(figures, file, indent=1)
    command = f"sm-detect bench --model {model}" + (" --quick" if quick else "")
    report = Report(figures, prices)
    text = report.markdown(command)
    if not quick:  # a smoke run's rates are no measure
        cost.record_rates(report)
        kind = figures["machine"]["isa"]
        say(f"kept this run's rates as those of `{kind}` in {cost.DEFAULT_RATES}")
    with open(output, "w", encoding="utf-8") as file:
        file.write(text)
    print(text)
    say(f"wrote {output}")


Starter = Callable[[str, str, Mapping[str, object]], Server]  # (model dir, run dir, env)


def stack_settings(name: str, cores: int) -> tuple[str, Starter, dict[str, str]]:
    """(title, starter, environment) of a server configuration under test."""
    latency = serving.Settings.from_environ({}, cpus=cores)
    throughput = serving.Settings.from_environ({"SM_DETECT_TUNING": serving.THROUGHPUT}, cpus=cores)
    return {
        "aws": (
            "C: AWS sagemaker-mxnet-inference 1.5.5, MMS defaults "
            f"({cores} workers x 1 thread), the seed's entry point",
            servers.start_aws,
            {},
        ),
        "ours": (
            f"ours, default tuning, latency ({latency.workers} worker(s) x "
            f"{latency.threads_per_worker} threads)",
            servers.start_ours,
            {},
        ),
        "ours-throughput": (
            "ours, SM_DETECT_TUNING=throughput "
            f"({throughput.workers} workers x {throughput.threads_per_worker} thread)",
            servers.start_ours,
            {"SM_DETECT_TUNING": serving.THROUGHPUT},
        ),
        "ours-int8": (
            f"ours, INT8 (the same weights quantized at packaging time), default tuning "
            f"({latency.workers} worker(s) x {latency.threads_per_worker} threads)",
            servers.start_ours,
            {},
        ),
        "ours-bf16": (
            f"ours, BF16 (the same weights, the trunk in bfloat16), default tuning "
            f"({latency.workers} worker(s) x {latency.threads_per_worker} threads)",
            servers.start_ours,
            {},
        ),
    }[name]


class BenchRun:
    """Holds the run's scratch directory, images and figures; ``measure()`` fills ``figures``."""

    def __init__(self, settings: Settings, work_dir: str) -> None:
        self.settings = settings
        self.work_dir = work_dir  # scratch: the model's copies, images, server logs
        self.cores = os.cpu_count() or 1
        self.figures: dict[str, Any] = {"settings": dataclasses.asdict(settings)}
        self.posted = 0  # requests sent to the server being measured
        self.model_dir = ""  # each measure* sets the models' directories and the images
        self.seed_model_dir = ""
        self.int8_model_dir: str | None = None
        self.bf16_model_dir: str | None = None
        self.images: dict[str, str] = {}

    def measure(self) -> dict[str, Any]:
        self.figures["machine"] = machine.describe(self.cores)
        self.figures["date"] = datetime.date.today().isoformat()
        self.model_dir = self.unpack_model()
        self.seed_model_dir = self.seed_model()
        self.images = images.write_images(
            self.settings.photo, self.settings.sizes, os.path.join(self.work_dir, "images")
        )
        self.figures["images"] = list(self.images)
        self.int8_model_dir = self.int8_model() if "ours-int8" in self.settings.stacks else None
        self.bf16_model_dir = self.bf16_model() if "ours-bf16" in self.settings.stacks else None
        with step("in process: A (the seed's pipeline), B (the bare forward), D (OpenVINO)"):
            self.figures["in_process"] = self.in_process()
        with step("where each precision's forward spends its time, by oneDNN's own log"):
            self.figures["profile"] = self.profiles(self.settings.profile_runs)
        self.figures["served"] = {}
        for name in self.settings.stacks:
            title, start, env = stack_settings(name, self.cores)
            if self.settings.server_mode and start is servers.start_ours:
                title += f", default mode {self.settings.server_mode}"
                env = {**env, "SM_DETECT_MODE": self.settings.server_mode}
            with step(f"serving: {title}"):
                self.figures["served"][name] = {"title": title, **self.serve(start, env, name)}
        if self.settings.shapes:
            self.shape_diverse()
        return self.figures

    def measure_profiles(self) -> dict[str, Any]:
        """Only where each precision's forward spends its time: ``sm-detect bench --profile``."""
        self.figures["machine"] = machine.describe(self.cores)
        self.model_dir = self.unpack_model()
        images_dir = os.path.join(self.work_dir, "images")
        self.images = images.write_images(self.settings.photo, self.settings.sizes, images_dir)
        self.int8_model_dir = self.int8_model()
        self.bf16_model_dir = self.bf16_model()
        with step("profiling each precision's forward with oneDNN's own log"):
            self.figures["profile"] = self.profiles(self.settings.profile_runs)
        return self.figures

    def measure_shapes(self) -> dict[str, Any]:
        """Only the shape-diverse part: for ``sm-detect bench --shapes N``."""
        self.figures["machine"] = machine.describe(self.cores)
        say(f"machine: {self.figures['machine']['cpu']}, {self.cores} cores")
        self.model_dir = self.unpack_model()
        images_dir = os.path.join(self.work_dir, "images")
        self.images = images.write_images(self.settings.photo, images.SIZES, images_dir)
        self.int8_model_dir = self.int8_model()
        self.bf16_model_dir = self.bf16_model()
        self.shape_diverse()
        return self.figures

    def shape_diverse(self) -> None:
        """Each precision's server under photos of distinct sizes; the default mode's
        detections against GluonCV's pipeline."""
        self.figures["shapes"] = {}
        for precision, model_dir in self.precisions():
            count = self.settings.shapes
            with step(f"{precision.upper()}: {count} photos of distinct sizes"):
                self.figures["shapes"][precision] = self.stream_shapes(precision, model_dir)
        with step("the default mode's detections against GluonCV's load_test"):
            detector = model.load_detector(self.model_dir)
            self.figures["canvases"] = canvases.compare(
                detector, canvases.photographs(self.settings.photo, quick=self.settings.shapes < 10)
            )

    def stream_shapes(self, precision: str, model_dir: str) -> dict[str, Any]:
        run_dir = os.path.join(self.work_dir, f"shapes-{precision}")
        os.makedirs(run_dir)
        server = servers.start_ours(model_dir, run_dir, {})
        try:
            url = server.wait_for_announcement(servers.START_TIMEOUT_SECONDS)
            metadata = model.read_metadata(os.path.join(model_dir, model.METADATA_FILE))
            result = shapes.stream(
                url, run_dir, self.settings.shapes, self.settings.photo, metadata, say=say
            )
        finally:
            server.stop()
        return result.summary()

    def unpack_model(self) -> str:
        """A private copy of the model: ``serve`` lays out and replaces ``<base>/model``."""
        model_dir = os.path.join(self.work_dir, "base", "model")
        with step(f"copying {self.settings.model} into {model_dir}"):
            if os.path.isdir(self.settings.model):
                shutil.copytree(self.settings.model, model_dir)
            else:
                archive.safe_extract(self.settings.model, model_dir)
        return model_dir

    def seed_model(self) -> str:
        """The same weights under GluonCV's own graph, as the seed exported and served them."""
        gluoncv_symbol = os.path.join(self.model_dir, model.GLUONCV_SYMBOL_FILE)
        if not os.path.isfile(gluoncv_symbol):
            raise CommandError(
                f"{self.settings.model} lacks {model.GLUONCV_SYMBOL_FILE}: package it again with "
                "`sm-detect package`"
            )
        seed_dir = os.path.join(self.work_dir, "seed", "model")
        os.makedirs(seed_dir, exist_ok=True)
        for name in (model.PARAMS_FILE, model.METADATA_FILE):
            os.link(os.path.join(self.model_dir, name), os.path.join(seed_dir, name))
        shutil.copyfile(gluoncv_symbol, os.path.join(seed_dir, model.SYMBOL_FILE))
        return seed_dir

    def int8_model(self) -> str:
        """The same weights quantized to INT8, calibrated on the benchmark's own images."""
        from scripts.lib.archives import quantize

        int8_dir = os.path.join(self.work_dir, "int8", "model")
        os.makedirs(os.path.dirname(int8_dir))
        with step("quantizing the model to INT8 (calibrated on the benchmark's images)"):
            metadata, fused = quantize.int8_copy(
                self.model_dir, int8_dir, list(self.images.values()), preprocess.ASPECT
            )
            how = quantize.how(len(self.images), preprocess.ASPECT, fused)
            quantize.record(int8_dir, dataclasses.replace(metadata, quantization=how), {})
        return int8_dir

    def bf16_model(self) -> str:
        """The same weights with the trunk in BF16."""
        from scripts.lib.archives import bf16, quantize

        bf16_dir = os.path.join(self.work_dir, "bf16", "model")
        os.makedirs(os.path.dirname(bf16_dir))
        with step("converting the model to BF16"):
            metadata = bf16.bf16_copy(self.model_dir, bf16_dir, self.metadata())
            quantize.record(bf16_dir, dataclasses.replace(metadata, conversion=bf16.how()), {})
        return bf16_dir

    def metadata(self) -> ModelMetadata:
        with open(os.path.join(self.model_dir, model.METADATA_FILE), encoding="utf-8") as file:
            return ModelMetadata.from_json(file.read())

    def profiles(self, runs: int) -> dict[str, dict[str, Any]]:
        """{precision: {"isa", "rows"}}: oneDNN's time per primitive and implementation."""
        from scripts.lib.bench import profile

        found = {}
        for precision, model_dir in self.precisions():
            measured = profile.profile(model_dir, runs)
            found[precision] = {
                "isa": measured.isa,
                "forward_ms": measured.total_ms / runs,
                "reference_share": measured.reference_share,
                "rows": measured.rows(),
            }
        return found

    def precisions(self) -> list[tuple[str, str]]:
        """(precision, model directory) of each precision this run has."""
        return [
            (precision, model_dir)
            for precision, model_dir in (
                ("fp32", self.model_dir),
                ("int8", self.int8_model_dir),
                ("bf16", self.bf16_model_dir),
            )
            if model_dir
        ]

    def in_process(self) -> dict[str, Any]:
        spec_path = os.path.join(self.work_dir, "in-process.json")
        with open(spec_path, "w", encoding="utf-8") as spec:
            json.dump(
                {
                    "model_dir": self.model_dir,
                    "int8_model_dir": self.int8_model_dir,
                    "bf16_model_dir": self.bf16_model_dir,
                    "work_dir": self.work_dir,
                    "threads": self.cores,
                    "seed_model_dir": self.seed_model_dir,
                    "images": self.images,
                    "modes": list(self.settings.modes),
                    "reference": self.reference_label(),
                    "repeats": self.settings.repeats,
                },
                spec,
            )
        threads = str(self.cores)
        env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads}
        result = subprocess.run(
            [sys.executable, "-m", "scripts.lib.bench.inprocess", spec_path],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"the in-process benchmark failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout)

    def serve(self, start: Starter, env: Mapping[str, object], name: str) -> dict[str, Any]:
        run_dir = os.path.join(self.work_dir, name)
        os.makedirs(run_dir, exist_ok=True)
        model_dir = {
            "aws": self.seed_model_dir,
            "ours-int8": self.int8_model_dir,
            "ours-bf16": self.bf16_model_dir,
        }.get(name, self.model_dir)
        server = start(model_dir or self.model_dir, run_dir, env)
        self.posted = 0
        try:
            first = self.body(next(iter(self.images)))
            figures: dict[str, Any] = {
                "cold_start": servers.cold_start(server, first, JPEG),
                "sizes": {},
            }
            for label in self.images:
                figures["sizes"][label] = self.under_load(server, self.body(label))
            if name in ("ours", "ours-int8", "ours-bf16"):
                figures["modes"] = self.modes(server)
                figures["requests_posted"] = figures["cold_start"]["posts"] + self.posted
                assert server.url is not None  # cold_start waited until the server said it
                figures["server_histogram"] = servers.server_histogram(server.url)
            workers = servers.model_server_workers(run_dir)
            figures["workers"] = len(workers)
            figures["peak_rss_bytes"] = [servers.peak_rss_bytes(worker) for worker in workers]
        finally:
            server.stop()
        return figures

    def body(self, label: str) -> bytes:
        with open(self.images[label], "rb") as file:
            return file.read()

    def post_loop(
        self, url: str, body: bytes, headers: Mapping[str, str], concurrency: int, total: int
    ) -> load.LoadResult:
        """``load.post_loop``, its requests counted for the server's own histogram."""
        result = load.post_loop(url, body, headers, concurrency, total)
        self.posted += sum(result.statuses.values())
        return result

    def under_load(
        self, server: Server, body: bytes, headers: Mapping[str, str] = JPEG
    ) -> dict[str, Any]:
        """Latency at concurrency 1, then images per second at each concurrency."""
        url = f"{server.url}/invocations"
        sequential = self.post_loop(url, body, headers, 1, self.settings.repeats)
        sequential.check_answered(server.log[-3000:])
        figures: dict[str, Any] = {
            "latency": load.percentiles(sequential.seconds),
            "errors_5xx": sequential.server_errors,
            "concurrency": {},
        }
        for concurrency in self.settings.concurrency:
            results = [
                self.post_loop(
                    url, body, headers, concurrency, concurrency * self.settings.per_client
                )
                for _ in range(self.settings.rounds)
            ]
            pooled = [second for result in results for second in result.seconds]
            figures["concurrency"][concurrency] = {
                "images_per_second": statistics.median(r.images_per_second for r in results),
                "p99": load.percentiles(pooled)[99] if pooled else None,
                "errors_5xx": sum(result.server_errors for result in results),
                "failed": sum(sum(result.statuses.values()) - result.ok for result in results),
            }
            rate = figures["concurrency"][concurrency]["images_per_second"]
            say(f"    c={concurrency}: {rate:.2f} images/s")
        return figures

    def modes(self, server: Server) -> dict[str, Any]:
        """Each speed/accuracy mode, chosen per request, on the reference image."""
        label = self.reference_label()
        figures = {}
        for mode in self.settings.modes:
            headers = {**JPEG, CUSTOM_ATTRIBUTES: f"mode={mode}"}
            url = f"{server.url}/invocations"
            sequential = self.post_loop(url, self.body(label), headers, 1, self.settings.repeats)
            sequential.check_answered(server.log[-3000:])
            busy = 4 if 4 in self.settings.concurrency else max(self.settings.concurrency)
            loaded = self.post_loop(
                url, self.body(label), headers, busy, busy * self.settings.per_client
            )
            figures[mode] = {
                "latency": load.percentiles(sequential.seconds),
                "images_per_second": {
                    1: sequential.images_per_second,
                    busy: loaded.images_per_second,
                },
            }
        return figures

    def reference_label(self) -> str:
        """768x576 (the dog) when it is among the sizes, else the first image."""
        return "768x576" if "768x576" in self.images else next(iter(self.images))
