"""How far the grids' numbers move when only the floating-point kernels change (a measurement).

    python benchmarks/kernel_drift.py                    # every grid's sample cells, every kernel path
    python benchmarks/kernel_drift.py --grids intro mla  # some grids
    python benchmarks/kernel_drift.py --paths native aten-default
    python benchmarks/kernel_drift.py --grids compare-map   # a method's section of grid compare

A committed record (``results/NAME.json``) was written on one CPU. On another CPU the same code
runs other kernels -- other vector widths in torch's own operators, another GEMM path in MKL or
none at all (ARM), other convolution kernels in oneDNN -- and the last bits of every sum differ.
Training amplifies those bits: a different epoch wins early stopping, a few test samples flip.

This script recomputes the sample cells of each grid (the cells CI recomputes, ``Grid.sample``,
plus ``Grid.drift_cells``) once per *kernel path*: a fresh process whose environment selects other
kernels on this machine, as another CPU would. For each number it records the largest absolute
difference from the committed record. ``tests/test_records.py`` checks that every grid's
``tolerance`` covers the drift measured here (and stays tight enough that a broken method
fails), and ``rmm_lib.records.drift_tolerance`` says how the two relate.

Writes ``results/kernel_drift.json`` with provenance (paths, CPU, versions, code hash, command).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "kernel_drift.json"

#: Kernel paths: environment variables that make this machine compute as other CPUs do. torch's
#: ATen picks its vectorised kernels by ATEN_CPU_CAPABILITY (default = no AVX, as on ARM or an old
#: x86); MKL its GEMM by MKL_ENABLE_INSTRUCTIONS (an AVX2-only or SSE-only processor) or
#: MKL_CBWR; the thread count changes how reductions are split.
PATHS = {
    "native": {},
    "native-2-threads": {"OMP_NUM_THREADS": "2", "RMM_DRIFT_THREADS": "2"},
    "aten-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},
    "avx2-machine": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "sse-machine": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                    "ONEDNN_MAX_CPU_ISA": "SSE41"},
    "mkl-compatible": {"MKL_CBWR": "COMPATIBLE"},
}

_CHILD = """
import json, os, sys, time, torch
from rmm_lib import records
from rmm_lib.grids import GRIDS
import rmm_lib.contributed
from rmm_lib import footing
GRIDS = {**GRIDS, **{f"compare-{n}": footing.grid(n) for n in footing.registered()}}
threads = int(os.environ.get("RMM_DRIFT_THREADS", "1"))
torch.set_num_threads(threads)
what = sys.argv[1].split(",")
for name in sys.argv[2:]:
    grid = GRIDS[name]
    for cell in tuple(grid.sample) + tuple(grid.drift_cells):
        row = {"grid": name, "cell": cell, "capability": torch.backends.cpu.get_cpu_capability(), "threads": threads}
        if "results" in what:
            out = records.compute_cell(grid, cell)
            row.update(result=out["result"], seconds=out["seconds"])
        if "traces" in what:
            row["trace"] = records.trace(grid, cell)["losses"]
        print(json.dumps(row), flush=True)
"""


def leaves(value, path: tuple = ()):
    """``(path of keys, number)`` for every number in a nested result (keys may hold dots: "0.1")."""
    if isinstance(value, dict):
        for key in sorted(value):
            yield from leaves(value[key], (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, (*path, str(i)))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, float(value)


def trace_drift(traces: dict) -> dict:
    """Per grid, the largest relative difference of a loss-trace step from the native path's."""
    native = traces.get("native", {})
    out: dict = {}
    for path, grids in traces.items():
        for grid, cells in grids.items():
            for cell, losses in cells.items():
                reference = native.get(grid, {}).get(cell)
                if path == "native" or reference is None or len(reference) != len(losses):
                    continue
                worst = max((abs(a - b) / max(abs(a), 1e-12) for a, b in zip(reference, losses)), default=0.0)
                out.setdefault(grid, {})[path] = max(out.get(grid, {}).get(path, 0.0), worst)
    return out


def run_path(name: str, env_extra: dict, grids: list, cache: Path, what: list) -> list:
    # an empty cache per path: the pretrained towers are trained under that path's kernels too,
    # as on another CPU
    env = {**os.environ, "RMM_PROGRESS": "0", "OMP_NUM_THREADS": "1", "RMM_CACHE": str(cache / name), **env_extra}
    proc = subprocess.run([sys.executable, "-c", _CHILD, ",".join(what), *grids], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"kernel path {name} failed:\n{proc.stderr[-3000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    import rmm_lib.contributed  # noqa: F401  (the methods kept as sections of grid compare)
    from rmm_lib import footing, records
    from rmm_lib.grids import GRIDS

    GRIDS = {**GRIDS, **{f"compare-{n}": footing.grid(n) for n in footing.registered()}}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grids", nargs="*", default=sorted(GRIDS))
    parser.add_argument("--paths", nargs="*", default=list(PATHS), choices=list(PATHS))
    parser.add_argument("--what", nargs="*", default=["results", "traces"], choices=["results", "traces"])
    parser.add_argument("--cache", default=None, help="where each path's own cache goes (default: a temporary folder)")
    args = parser.parse_args()

    stored = {name: records.load(GRIDS[name]) for name in args.grids}
    previous = json.loads(OUT.read_text()) if OUT.is_file() else {}
    runs, traces = previous.get("runs", {}), previous.get("traces", {})
    cache = Path(args.cache or tempfile.mkdtemp(prefix="rmm-drift-"))
    for path in args.paths:
        start = time.perf_counter()
        for row in run_path(path, PATHS[path], args.grids, cache, args.what):
            if "result" in row:
                reference = dict(leaves(stored[row["grid"]]["cells"][row["cell"]]["result"]))
                diffs = {k: abs(v - reference[k]) for k, v in leaves(row["result"]) if k in reference}
                runs.setdefault(path, {}).setdefault(row["grid"], {})[row["cell"]] = {
                    "capability": row["capability"], "threads": row["threads"], "seconds": row["seconds"],
                    "max_abs_diff": max(diffs.values(), default=0.0),
                    "diffs": [[list(k), d] for k, d in diffs.items() if d > 0]}
            if "trace" in row:
                traces.setdefault(path, {}).setdefault(row["grid"], {})[row["cell"]] = row["trace"]
        print(f"{path}: {time.perf_counter() - start:.0f} s", flush=True)
        summary = {g: {p: max((c["max_abs_diff"] for c in runs[p].get(g, {}).values()), default=0.0)
                       for p in runs} for g in sorted({g for p in runs.values() for g in p})}
        OUT.write_text(json.dumps({
            "what": "largest absolute difference from the committed record, per grid and kernel path; the loss "
                    "traces of the same cells on each path (compared with the native path's)",
            "paths": {p: PATHS[p] for p in set(runs) | set(traces)}, "summary": summary, "runs": runs,
            "traces": traces, "trace_drift": trace_drift(traces),
            "cpu": records.cpu_model(), "versions": records.versions(), "code_hash": records.code_hash(),
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": "python benchmarks/kernel_drift.py " + " ".join(sys.argv[1:]),
        }, indent=1, sort_keys=True) + "\n")
    for grid, by_path in summary.items():
        print(f"{grid:<10}" + "  ".join(f"{p} {v:.4f}" for p, v in by_path.items()))


if __name__ == "__main__":
    main()
