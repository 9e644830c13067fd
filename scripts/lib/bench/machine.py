"""The machine a benchmark ran on, and the floating-point rate its cores can reach.

Two peaks: the theoretical one from the CPU's description (cores x FP32 FMA lanes x 2 FMA units x
2 FLOPs x clock), and the practical one, measured by a large single-precision GEMM. The
theoretical figure is only as good as its inputs: the clock is /proc/cpuinfo's (often the base,
not the boost clock), and AMD cores before Zen 5 run AVX-512 on 256-bit units.
"""

import os
import platform
import time

FMA_UNITS = 2  # per core, on every x86 server core since Haswell and Zen 1


def cpu_info(path="/proc/cpuinfo"):
    """The first processor's fields of /proc/cpuinfo, as a dict."""
    fields = {}
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def fp32_lanes(vendor, family, flags):
    """FP32 lanes of one FMA unit: 16 for AVX-512 on 512-bit units, 8 for AVX2/FMA, else 4."""
    if "avx512f" in flags and not (vendor == "AuthenticAMD" and family < 26):
        return 16
    if "fma" in flags and "avx2" in flags:
        return 8
    return 4


def describe(cores=None):
    """CPU model, cores, vector flags, clock and the theoretical FP32 peak in GFLOP/s."""
    info = cpu_info()
    flags = set(info.get("flags", "").split())
    cores = cores or os.cpu_count() or 1
    vendor = info.get("vendor_id", "")
    family = int(info.get("cpu family", "0") or 0)
    clock_ghz = float(info.get("cpu MHz", "0") or 0) / 1000
    lanes = fp32_lanes(vendor, family, flags)
    return {
        "cpu": info.get("model name", platform.processor() or "unknown"),
        "vendor": vendor,
        "family": family,
        "cores": cores,
        "clock_ghz": round(clock_ghz, 3),
        "flags": sorted(flags & {"avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"}),
        "fp32_lanes": lanes,
        "theoretical_gflops": round(cores * lanes * FMA_UNITS * 2 * clock_ghz, 1),
    }


def gemm_gflops(size=4096, repeats=5):
    """Best GFLOP/s of ``repeats`` ``size`` x ``size`` float32 matrix products on numpy's BLAS.

    The best, not the median: it stands for what the cores can reach, and a neighbour's burst on
    a shared host only ever lowers it.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.random((size, size), dtype=np.float32) for _ in range(2))
    a @ b  # the first call pays for thread start-up and page faults
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / min(times) / 1e9
