"""The CPU's instructions: which of them oneDNN may use in this process, AMX switched on where the
CPU and the kernel allow it.

MXNet 1.9.1 bundles oneDNN 2.4, whose AMX kernels (the tile units of Intel Sapphire Rapids:
ml.c7i, m7i, r7i) are off unless ``DNNL_MAX_CPU_ISA=AVX512_CORE_AMX`` is set before oneDNN first
runs. Set alone it kills the process on the first AMX instruction (SIGILL): since Linux 5.16 a
process must ask the kernel for the tile state first (``arch_prctl(ARCH_REQ_XCOMP_PERM,
XFEATURE_XTILEDATA)``), which oneDNN 2.4 does not do. ``prepare()`` does both, once per process,
from the model's load path (so it also happens in AWS's own MXNet container, which runs the
archive's ``code/``); where the CPU lacks AMX or the kernel (or a seccomp policy) refuses, oneDNN
keeps to AVX-512 as before. ``DNNL_MAX_CPU_ISA``, oneDNN's own variable, pins the ISA: set lower,
AMX is never asked for.

The variable is taken out of the environment again once oneDNN has read it (it reads it once, at
its first primitive): a child process inherits the environment but not the kernel's permission,
and would die on its first AMX instruction (seen: `sm-detect package` started by a process that
had switched AMX on).
"""

import ctypes
import functools
import logging
import os
from collections.abc import Callable, MutableMapping

logger = logging.getLogger(__name__)

ISA_VARIABLE = "DNNL_MAX_CPU_ISA"
SYS_ARCH_PRCTL = 158  # x86-64
ARCH_REQ_XCOMP_PERM = 0x1023
XFEATURE_XTILEDATA = 18

# oneDNN's ISA names, weakest first, each with the /proc/cpuinfo flags it needs
ISAS = (
    ("sse41", {"sse4_1"}),
    ("avx", {"avx"}),
    ("avx2", {"avx2"}),
    ("avx512_core", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}),
    ("avx512_core_vnni", {"avx512_vnni"}),
    ("avx512_core_bf16", {"avx512_bf16"}),
    ("avx512_core_amx", {"amx_tile", "amx_int8", "amx_bf16"}),
)
NAMES = tuple(name for name, _ in ISAS)
AMX = "avx512_core_amx"
# what a person reads: the CPU kind each ISA stands for
KINDS = {
    "avx512_core_amx": "AMX (INT8 and BF16 tiles)",
    "avx512_core_bf16": "AVX-512 with BF16 and VNNI",
    "avx512_core_vnni": "AVX-512 with VNNI",
    "avx512_core": "AVX-512",
    "avx2": "AVX2",
    "avx": "AVX",
    "sse41": "SSE4.1",
}


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The flags of the first processor in ``cpuinfo``; empty where there is no such file."""
    try:
        with open(cpuinfo, encoding="utf-8") as file:
            for line in file:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def best_isa(flags: frozenset[str]) -> str:
    """The strongest ISA of oneDNN's that ``flags`` hold every step of."""
    best = ""
    for name, needed in ISAS:
        if not needed <= flags:
            break
        best = name
    return best


def effective_isa(flags: frozenset[str], pinned: str | None, amx_granted: bool) -> str:
    """What oneDNN will use: the CPU's best, no higher than ``pinned`` (``DNNL_MAX_CPU_ISA``),
    and AMX only where the kernel granted the tile state."""
    isa = best_isa(flags)
    if isa == "avx512_core_amx" and not amx_granted:
        isa = NAMES[NAMES.index(isa) - 1]
    if pinned and pinned.lower() in NAMES:
        isa = NAMES[min(NAMES.index(isa), NAMES.index(pinned.lower()))] if isa else ""
    return isa


def request_tile_state(syscall: Callable[..., int] | None = None) -> bool:
    """Ask the kernel for the AMX tile state for this process; whether it was granted."""
    if syscall is None:
        try:
            syscall = ctypes.CDLL(None, use_errno=True).syscall
        except (OSError, AttributeError):
            return False
    return syscall(SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0


@functools.cache
def prepare() -> str:
    """Switch AMX on where it may run, before oneDNN first runs in this process; returns the ISA
    oneDNN uses (``avx512_core_amx``, ``avx512_core_bf16``, ...)."""
    return configure(os.environ, cpu_flags(), request_tile_state, run_first_primitive)


def run_first_primitive() -> None:
    """One small convolution, so that oneDNN reads its ISA variable now."""
    import mxnet as mx  # lazily: the light modules of the request path import this one

    data, weight = mx.nd.ones((1, 16, 4, 4)), mx.nd.ones((16, 16, 1, 1))
    mx.nd.Convolution(data, weight, kernel=(1, 1), num_filter=16, no_bias=True).wait_to_read()


def configure(
    environ: MutableMapping[str, str],
    flags: frozenset[str],
    request: Callable[[], bool],
    first_primitive: Callable[[], None],
) -> str:
    """``prepare``'s work on a given environment, flags, tile-state request and first oneDNN
    primitive."""
    pinned = environ.get(ISA_VARIABLE)
    wants_amx = best_isa(flags) == "avx512_core_amx" and (
        not pinned or pinned.lower() in ("all", "avx512_core_amx")
    )
    granted = bool(wants_amx and request())
    if granted and not pinned:
        environ[ISA_VARIABLE] = "AVX512_CORE_AMX"
        first_primitive()
        del environ[ISA_VARIABLE]  # read: children must ask the kernel themselves
    if wants_amx and not granted:
        logger.warning("the CPU has AMX, but the kernel refused its tile state: AVX-512 it is")
    return effective_isa(flags, None if (pinned or "").lower() == "all" else pinned, granted)


def kind(isa: str) -> str:
    """``AMX (INT8 and BF16 tiles)`` for ``avx512_core_amx``, ..."""
    return KINDS.get(isa, isa or "unknown")
