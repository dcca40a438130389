"""Wall times of the test command, the book build and each notebook (a measurement, not a test).

    python benchmarks/timings.py            # in this checkout (installed venv reused)
    python benchmarks/timings.py --fresh    # a fresh machine: a fresh clone of HEAD, installs and an
                                            # empty RMM_CACHE included -- what .ci/run meets

Runs what ``.ci/run`` runs -- ``make test``, ``make book`` (execution cache cleared), ``make
check-book`` -- then each notebook on its own, and prints a Markdown table with the total; writes
runs/timings.json. Target on the 2-core CPU machine: ``.ci/run`` (test, book, browser check) within
20 minutes on a fresh machine with an empty cache.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


LOGS = ROOT / "runs" / "timings"


def timed(cmd: list, cwd: Path, env: dict) -> tuple:
    """Seconds and exit code of ``cmd``; its whole output goes to runs/timings/<command>.log (with
    PYTEST_ADDOPTS=--durations=30 in the environment, the slowest tests are listed there)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / ("_".join(Path(c).name for c in cmd[:3])[:80] + ".log")).write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    return seconds, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh", action="store_true", help="clone HEAD into a temporary folder first")
    parser.add_argument("--skip", nargs="*", default=[], choices=["test", "book", "check-book", "notebooks"])
    args = parser.parse_args()

    env = {**os.environ, "RMM_PROFILE": "quick", "RMM_PROGRESS": "0"}
    work = ROOT
    tmp = None
    if args.fresh:
        tmp = Path(tempfile.mkdtemp(prefix="rmm-fresh-"))
        env["RMM_CACHE"] = str(tmp / "cache")  # nothing pretrained or encoded yet
        work = tmp / "rmm"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(work)], check=True)
        shared = ROOT.parent / "shared"
        if shared.exists():
            (tmp / "shared").symlink_to(shared)
    rows = []
    if "test" not in args.skip:
        rows.append(("make test" + (" (fresh clone, with install)" if args.fresh else ""), *timed(["make", "test"], work, env)))
    if "book" not in args.skip:
        shutil.rmtree(work / "_build", ignore_errors=True)  # no execution cache: every notebook runs
        rows.append(("make book" + (" (with install)" if args.fresh else ", cache cleared"), *timed(["make", "book"], work, env)))
    if "check-book" not in args.skip:
        rows.append(("make check-book", *timed(["make", "check-book"], work, env)))
    ci = sum(seconds for name, seconds, _ in rows)
    if "notebooks" not in args.skip:
        python = work / ".venv" / "bin" / "python"
        for nb in sorted((work / "notebooks").glob("*.ipynb")):
            with tempfile.TemporaryDirectory() as out:
                cmd = [str(python), "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                       "--output-dir", out, str(nb)]
                rows.append((f"notebook {nb.stem}", *timed(cmd, work / "notebooks", env)))

    print(f"machine: {platform.node()} ({os.cpu_count()} cores), python {platform.python_version()}")
    print("| what | wall time | exit |\n|---|---|---|")
    for name, seconds, code in rows:
        print(f"| {name} | {seconds / 60:.1f} min ({seconds:.0f} s) | {code} |")
    print(f"| **.ci/run (test + book + browser check)** | **{ci / 60:.1f} min ({ci:.0f} s)** | |")
    out = ROOT / "runs" / "timings.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps([{"what": n, "seconds": s, "exit": c} for n, s, c in rows], indent=2))
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
