"""Which ISA oneDNN may use: the CPU's best, AMX only where the kernel grants its tile state, never
above what DNNL_MAX_CPU_ISA pins; and what this machine's oneDNN says it uses agrees."""

import os
import subprocess
import sys

import pytest

from inference import cpu

AVX512 = frozenset({"sse4_1", "avx", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq"})
ZEN4 = AVX512 | {"avx512_vnni", "avx512_bf16"}
SAPPHIRE_RAPIDS = ZEN4 | {"amx_tile", "amx_int8", "amx_bf16"}
# the first line oneDNN's verbose mode prints, by ISA (oneDNN 2.4's wording)
VERBOSE_ISA = {
    "avx512_core_amx": "Intel AVX-512 with Intel DL Boost and bfloat16 support and Intel AMX "
    "with bfloat16 and 8-bit integer support",
    "avx512_core_bf16": "Intel AVX-512 with Intel DL Boost and bfloat16 support",
    "avx512_core_vnni": "Intel AVX-512 with Intel DL Boost",
    "avx512_core": "Intel AVX-512 with AVX512BW, AVX512VL, and AVX512DQ extensions",
    "avx2": "Intel AVX2",
}


@pytest.mark.parametrize(
    "flags, pinned, granted, expected",
    [
        (SAPPHIRE_RAPIDS, None, True, "avx512_core_amx"),
        (SAPPHIRE_RAPIDS, None, False, "avx512_core_bf16"),  # the kernel refused: AVX-512
        (SAPPHIRE_RAPIDS, "AVX512_CORE_VNNI", True, "avx512_core_vnni"),
        (ZEN4, None, False, "avx512_core_bf16"),
        (ZEN4, "avx2", False, "avx2"),
        (AVX512 | {"avx512_vnni"}, None, False, "avx512_core_vnni"),
        (AVX512 - {"avx512f"}, None, False, "avx2"),
    ],
)
def test_the_effective_isa(flags, pinned, granted, expected):
    assert cpu.effective_isa(flags, pinned, granted) == expected


def test_amx_is_asked_for_only_where_the_cpu_has_it_and_nothing_pins_lower():
    asked = []

    def granting():
        asked.append(1)
        return True

    environ, seen = {}, []

    def first_primitive():
        seen.append(dict(environ))

    assert cpu.configure(environ, SAPPHIRE_RAPIDS, granting, first_primitive) == "avx512_core_amx"
    assert asked == [1] and seen == [{"DNNL_MAX_CPU_ISA": "AVX512_CORE_AMX"}]  # oneDNN read it
    assert environ == {}  # and no child inherits AMX without the kernel's permission
    pinned = {"DNNL_MAX_CPU_ISA": "AVX512_CORE_BF16"}
    assert cpu.configure(pinned, SAPPHIRE_RAPIDS, granting, first_primitive) == "avx512_core_bf16"
    assert cpu.configure({}, ZEN4, granting, first_primitive) == "avx512_core_bf16"
    assert asked == [1]  # neither pinned lower nor a CPU without AMX asks the kernel


def test_a_refused_tile_state_leaves_amx_off(caplog):
    environ = {}
    assert cpu.configure(environ, SAPPHIRE_RAPIDS, lambda: False, list) == "avx512_core_bf16"
    assert "DNNL_MAX_CPU_ISA" not in environ  # oneDNN's AMX would die on its first instruction
    assert "refused its tile state" in caplog.text


# one BF16 convolution: on an AMX CPU with DNNL_MAX_CPU_ISA=AVX512_CORE_AMX and no permission
# from the kernel, it dies of SIGILL (exit 132, seen on a Sapphire Rapids Xeon)
BF16_CONVOLUTION = """
import json
import mxnet as mx
import numpy as np
graph = {"nodes": [
    {"op": "null", "name": "data", "inputs": []},
    {"op": "amp_cast", "name": "to_bf16", "attrs": {"dtype": "bfloat16"}, "inputs": [[0, 0, 0]]},
    {"op": "null", "name": "c_weight", "inputs": []},
    {"op": "Convolution", "name": "c", "attrs": {"kernel": "(3, 3)", "num_filter": "32",
     "no_bias": "True"}, "inputs": [[1, 0, 0], [2, 0, 0]]},
    {"op": "amp_cast", "name": "to_f32", "attrs": {"dtype": "float32"}, "inputs": [[3, 0, 0]]}],
    "arg_nodes": [0, 2], "heads": [[4, 0, 0]]}
bf16 = np.dtype([("bfloat16", np.uint16)])
executor = mx.sym.load_json(json.dumps(graph)).simple_bind(
    mx.cpu(), data=(1, 32, 8, 8), type_dict={"data": np.float32, "c_weight": bf16})
executor.forward(data=mx.nd.ones((1, 32, 8, 8)))
executor.outputs[0].asnumpy()
"""


def test_a_child_process_does_not_inherit_amx_without_the_kernels_permission():
    # the parent switches AMX on and runs oneDNN; its child runs a BF16 convolution without
    # asking the kernel for anything
    script = (
        "from inference import cpu; cpu.prepare()\n"
        "import subprocess, sys\n"
        f"sys.exit(subprocess.run([sys.executable, '-c', {BF16_CONVOLUTION!r}]).returncode)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DNNL_MAX_CPU_ISA"}
    ran = subprocess.run([sys.executable, "-c", script], env=env, timeout=120, capture_output=True)
    assert ran.returncode == 0, ran.stderr[-2000:]


def test_this_machines_onednn_uses_the_isa_reported(tmp_path):
    # a fresh process: prepare() before oneDNN's first primitive, then one convolution
    script = (
        "from inference import cpu; isa = cpu.prepare()\n"
        "import mxnet as mx\n"
        "x = mx.nd.ones((1, 16, 8, 8)); w = mx.nd.ones((16, 16, 3, 3))\n"
        "mx.nd.Convolution(x, w, kernel=(3, 3), num_filter=16, no_bias=True).asnumpy()\n"
        "print('reported', isa)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DNNL_MAX_CPU_ISA"}
    ran = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**env, "DNNL_VERBOSE": "1"},
        timeout=120,
        check=True,
    )
    reported = ran.stdout.split("reported ")[-1].strip()
    assert reported == cpu.effective_isa(cpu.cpu_flags(), None, reported == "avx512_core_amx")
    (line,) = [ln for ln in ran.stdout.splitlines() if ln.startswith("dnnl_verbose,info,cpu,isa:")]
    assert line.removeprefix("dnnl_verbose,info,cpu,isa:") == VERBOSE_ISA[reported]
    if "amx_tile" in cpu.cpu_flags():
        assert reported == "avx512_core_amx"  # this kernel grants the tile state
