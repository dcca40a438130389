"""The committed full-size record: every registered table's models at the paper's size, on CPU.

    python benchmarks/full_size.py                       # every table -> results/full_size.json
    python benchmarks/full_size.py cmpt.table4.cremad    # some tables (merged into the record)

Each dataset's release-format fixture (tests/e2e_fixtures.py: a tiny copy of the release, prepared
by its data_scripts/ script) is written into a temporary folder; then ``python -m rmm_lib smoke``'s
dry run (:mod:`rmm_lib.dryrun`) runs each group of tables that may share models in a fresh process:
random weights at full size, batch 2, one training and one evaluation step per model, the first 4
samples of each split, one torch thread. No checkpoint is kept. The record gives, per table, the
main model's parameters beside the paper's counts (CMPT Tables 3-4), the step times, the peak
resident memory, the size of the checkpoints a real run writes, and every model's figures; its
provenance names the code hash, the package versions, the CPU and this command. The reproduction
page (notebook 90) reads it for the disk each table needs and its GPU-memory estimate.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "full_size.json"
SAMPLES, BATCH = 4, 2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("keys", nargs="*", help="table keys (default: every registered table)")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory-cap-gib", type=float, default=8.0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from e2e_fixtures import prepare  # the release-format fixtures of the end-to-end tests

    from rmm_lib import dryrun
    from rmm_lib.tables import get, load_all

    specs = load_all()
    keys = args.keys or sorted(specs)
    chosen = [get(k) for k in keys]
    out = Path(args.out)
    old = json.loads(out.read_text()) if out.is_file() and args.keys else None
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rmm-fixtures-") as root:
        for name in sorted({s.dataset for s in chosen}):
            prepare(name, root)

        def data_for(spec):
            return {"dataset": spec.dataset, "data_root": root, "samples": SAMPLES, "seed": 0,
                    "data_options": dict(spec.data_options) or None}

        def report(group, result):
            for key in group:
                entry = result["tables"].get(key, {})
                print(f"{key}: {entry.get('status')} ({entry.get('wall_s', 0):.0f} s) {entry.get('error', '')}"[:300],
                      flush=True)

        options = {"device": "cpu", "batch_size": BATCH, "threads": args.threads,
                   "memory_cap_mib": args.memory_cap_gib * 1024}
        result = dryrun.run_isolated(dryrun.groups_of(chosen), data_for, options, on_group=report)
    command = "python benchmarks/full_size.py" + ("" if not args.keys else " " + " ".join(args.keys))
    record = dryrun.make_record(result, command=command, options={"batch_size": BATCH, "device": "cpu", "threads": args.threads,
                                "timed_steps": 0, "wall_s": round(time.perf_counter() - start, 1)},
                                data=f"release-format fixtures (tests/e2e_fixtures.py), first {SAMPLES} samples per "
                                     "split; class lists completed to the release's count")
    if old is not None:  # a partial rerun: the other tables keep their figures (and their provenance)
        kept = {k: v for k, v in old["tables"].items() if k not in record["tables"]}
        for row in kept.values():
            row.setdefault("provenance", {k: old["provenance"].get(k) for k in ("code_hash", "finished", "command")})
        record["tables"] = dict(sorted({**kept, **record["tables"]}.items()))
        record["cells"] = {**{n: c for n, c in old["cells"].items() if c["table"] in kept}, **record["cells"]}
    out.write_text(json.dumps(record, indent=1) + "\n")
    ok = sum(r["status"] == "ok" for r in record["tables"].values())
    print(f"wrote {out} ({ok} of {len(record['tables'])} tables ran at full size)")
    return 0 if all(result["tables"][k]["status"] == "ok" for k in keys) else 1


if __name__ == "__main__":
    sys.exit(main())
