"""``python -m rmm_lib``: list the papers' tables, run one on real data, or dry-run them at full size.

    python -m rmm_lib list
    python -m rmm_lib run mla.table2 --data-root ~/rmm_data --out runs/ [--epochs N] [--device cuda] [--resume]
    torchrun --nproc_per_node 4 -m rmm_lib run mla.table2 ...   # the same run on 4 GPUs (DDP)
    python -m rmm_lib smoke all                  # full-size dry run: every table's models, random weights, one step
    python -m rmm_lib grid limits                # a grid of the book into results/limits.json (resumable)
    python -m rmm_lib compare --method map       # a method on the comparison's footing (rmm_lib.footing)
    python -m rmm_lib compare --method mine --module my_methods   # one your module registers

This is an entry point: it reads the profile (``run`` and ``smoke`` use ``paper``, the papers'
backbones and settings, unless ``--profile`` says otherwise) and passes it down.
"""
from __future__ import annotations

import argparse
import ast
import json
import shlex
import sys
import time
from pathlib import Path

from .tables import get, load_all


def _device(name: str | None) -> str:
    from .utils import select_device

    return name or select_device().type


def cmd_list(args) -> int:
    specs = load_all()
    if not specs:
        print("no table is registered yet (the method chapters register them in rmm_lib/tables/<paper>.py)")
        return 0
    width = max(len(k) for k in specs)
    for key in sorted(specs):
        s = specs[key]
        gpu = "unmeasured" if s.gpu_minutes is None else f"~{s.gpu_minutes:g} GPU min"
        print(f"{key:<{width}}  {s.dataset:<16} {gpu:<14} {s.title}")
    return 0


def _pairs(items, flag: str) -> dict:
    """``["k=v", ...]`` -> ``{k: v}``; values read as Python literals (``3``, ``1e-3``, ``None``,
    ``False``, ``(0.1, 0.5)``), a bare word kept as a string (``target=sentiment``)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} takes KEY=VALUE, got {item!r}")
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            pass  # a bare word stays a string: --train optimizer=adamw
        out[key] = value
    return out


def cmd_run(args) -> int:
    """``run``; under ``torchrun --nproc_per_node N`` it trains on N processes (one per GPU, DDP)."""
    from .distributed import start_from_torchrun, stop

    started = start_from_torchrun()
    try:
        return _run(args)
    finally:
        if started:
            stop()


def _run(args) -> int:
    from .data import load_splits
    from .distributed import is_main_process
    from .profiles import profile_from_env
    from .reproduce import run_table

    spec = get(args.key)
    profile = profile_from_env(args.profile)
    options = {**spec.data_options, **_pairs(args.data_option, "--data-option")}
    splits = load_splits(spec.dataset, args.data_root or profile.data_root, seed=args.seed, **options)
    train = _pairs(args.train, "--train")
    if args.epochs is not None:
        train["epochs"] = args.epochs
    record = run_table(spec, splits, profile, device=_device(args.device), out_dir=args.out, seed=args.seed,
                       train=train, model=_pairs(args.model, "--model"), table=_pairs(args.table, "--table"),
                       max_steps=args.max_steps, pretrained=not (args.random_weights or args.reduced), reduced=args.reduced,
                       resume=args.resume, progress=not args.no_progress,
                       command_line="python -m rmm_lib " + " ".join(shlex.quote(a) for a in args.argv))
    out = Path(args.out) / spec.key
    if is_main_process():  # torchrun: one report, from the rank that wrote it
        print((out / "table.md").read_text())
        print(f"wrote {out / 'result.json'} ({record['wall_s']:.0f} s, peak {record['peak_memory_mb']:.0f} MB)")
    return 0


def cmd_smoke(args) -> int:
    """``smoke``: the full-size dry run (:mod:`rmm_lib.dryrun`) of one table or all of them."""
    from . import dryrun

    specs = load_all()
    if not specs:
        print("no table is registered yet")
        return 0
    chosen = [specs[k] for k in sorted(specs)] if args.key == "all" else [get(args.key)]
    groups = dryrun.groups_of(chosen)
    device = _device(args.device)
    options = {"device": device, "batch_size": args.batch_size, "seed": args.seed, "timed_steps": args.steps,
               "table": _pairs(args.table, "--table") or None, "train": _pairs(args.train, "--train") or None,
               "memory_cap_mib": args.memory_cap_gib * 1024}
    data_options = _pairs(args.data_option, "--data-option")

    def data_for(spec):
        return {"dataset": spec.dataset, "data_root": args.data_root, "samples": args.samples, "seed": args.seed,
                "data_options": {**spec.data_options, **data_options} or None}

    failed = []

    def report(keys, result):
        for key in keys:
            spec = specs[key]
            row = dryrun.summary(result, key, spec.paper) if key in result["tables"] else {"status": "failed"}
            if row["status"] != "ok":
                failed.append(key)
                print(f"{key}: FAILED {result['tables'].get(key, {}).get('error', '')}", flush=True)
                continue
            shared = result["tables"][key].get("reused") or {}
            also = f" ({len(shared)} shared with {', '.join(sorted(set(shared.values())))})" if shared else ""
            if not row["models"]:
                print(f"{key}: ok | 0 model(s): it trains none through the trainer | peak "
                      f"{dryrun.fmt_mib(row['peak_memory_mib'])}", flush=True)
                continue
            print(f"{key}: ok | {row['models']} model(s){also} | {row['model']} "
                  f"{dryrun.fmt_millions(row['parameters'])} ({dryrun.fmt_millions(row['trainable'])} trainable) | "
                  f"train step {row['train_step_s']:.2f} s, eval step {row['eval_step_s']:.2f} s at batch "
                  f"{args.batch_size} | peak {dryrun.fmt_mib(row['peak_memory_mib'])} | checkpoints "
                  f"{dryrun.fmt_mib(row['checkpoints_mib'])} | {device}", flush=True)

    if args.in_process:
        from .utils import set_threads

        set_threads(args.threads)
        result = {"tables": {}, "cells": {}}
        for keys in groups:
            dataset = specs[keys[0]].dataset
            try:
                splits = dryrun.load_dry_splits(**data_for(specs[keys[0]]))
            except (FileNotFoundError, ValueError) as err:
                part = {"tables": {k: {"dataset": dataset, "status": "failed", "error": str(err)} for k in keys},
                        "cells": {}}
            else:
                part = dryrun.dry_run_group([specs[k] for k in keys], splits, **options)
            result["tables"].update(part["tables"])
            result["cells"].update(part["cells"])
            report(keys, part)
    else:
        result = dryrun.run_isolated(groups, data_for, {**options, "threads": args.threads}, on_group=report)
    what = f"prepared data under {args.data_root}" if args.data_root else "random data of the real shapes"
    record = dryrun.make_record(result, command="python -m rmm_lib " + " ".join(shlex.quote(a) for a in args.argv),
                                options={"batch_size": args.batch_size, "timed_steps": args.steps, "device": device,
                                         "threads": args.threads},
                                data=f"{what}, {args.samples} samples per split")
    out = Path(args.record) if args.record else Path(args.out) / "smoke" / "smoke.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}: {len(chosen) - len(failed)} of {len(chosen)} table(s) ran at full size")
    return 1 if failed else 0


def cmd_grid(args) -> int:
    from .grids import GRIDS, get_grid
    from .records import load, run, stale_reason

    if args.name == "list":
        from . import contributed  # noqa: F401  (the methods kept as sections of grid compare)
        from .footing import grid as method_grid, registered

        for grid in [g for _, g in sorted(GRIDS.items())] + [method_grid(n) for n in registered()]:
            reason = stale_reason(grid, load(grid))
            print(f"{grid.label:<16} {len(grid.cells):>4} cells  {'current' if reason is None else reason}")
        return 0
    grid = get_grid(args.name)
    cells = None if not args.cells else [c for item in args.cells for c in item.split(",")]
    record = run(grid, cells, fresh=args.fresh, device=_device(args.device))
    print(f"{grid.path()}: {len(record['cells'])} of {len(grid.cells)} cells")
    return 0


def cmd_compare(args) -> int:
    import importlib

    from . import contributed  # noqa: F401  (registers the library's contributed methods)
    from . import footing

    for module in args.module:
        importlib.import_module(module)  # a researcher's module registers its method on import
    if args.list or not args.method:
        for name in footing.registered():
            method = footing.get(name)
            print(f"{name:<12} {len(method.cells()):>4} cells  reads {method.reads:<8} {method.description}")
        return 0
    cells = None if not args.cells else [c for item in args.cells for c in item.split(",")]
    root = Path(args.root) if args.root else None
    record = footing.run(args.method, cells, fresh=args.fresh, root=root)
    print(f"{footing.grid(args.method).path(root)} [{args.method}]: {len(record['cells'])} of "
          f"{len(footing.grid(args.method).cells)} cells")
    if cells is None:
        footing.rows(args.method, footing.runs(args.method, root=root, log=lambda *_: None)).show()
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rmm_lib", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every registered paper table")
    r = sub.add_parser("run", help="run one table on its real dataset (paper profile)")
    r.add_argument("key")
    r.add_argument("--data-root", default=None, help="default: $RMM_DATA_ROOT or ~/rmm_data")
    r.add_argument("--out", default="runs")
    r.add_argument("--epochs", type=int, default=None, help="override the paper's epoch count")
    r.add_argument("--device", default=None, help="cuda, cpu, ... (default: the best available)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to load_splits, e.g. target=sentiment (MELD) or text=ids (MOSI/MOSEI)")
    r.add_argument("--resume", action="store_true",
                   help="continue every model from its last checkpoint under OUT/KEY/cells (finished ones are loaded)")
    r.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                   help="a TrainConfig field, e.g. batch_size=8 (unknown keys are refused)")
    r.add_argument("--model", action="append", default=[], metavar="KEY=VALUE", help="a method option")
    r.add_argument("--table", action="append", default=[], metavar="KEY=VALUE",
                   help="part of the table, e.g. rows=('TRML',) or rates=(0.1,0.5)")
    r.add_argument("--max-steps", type=int, default=None, help="smoke run: one epoch of this many batches per model")
    r.add_argument("--random-weights", action="store_true", help="the backbones' classes without pretrained weights")
    r.add_argument("--reduced", action="store_true",
                   help="the paper profile's backbone classes at a reduced size, random weights (CPU tests)")
    r.add_argument("--profile", default="paper", choices=("paper", "quick"),
                   help="paper (default): the papers' backbones and settings")
    s = sub.add_parser("smoke", help="full-size dry run: each table's models at the paper's size, random weights, "
                                     "one training and one evaluation step per model, measured")
    s.add_argument("key", help="a table key or 'all'")
    s.add_argument("--data-root", default=None,
                   help="prepared data to read (its first --samples per split); default: random data of the real shapes")
    s.add_argument("--samples", type=int, default=4, help="samples per split")
    s.add_argument("--batch-size", type=int, default=2)
    s.add_argument("--steps", type=int, default=0, help="timed training steps per model after the first (default 0)")
    s.add_argument("--table", action="append", default=[], metavar="KEY=VALUE", help="part of the table, as for run")
    s.add_argument("--train", action="append", default=[], metavar="KEY=VALUE", help="a TrainConfig field, as for run")
    s.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE", help="as for run")
    s.add_argument("--out", default="runs", help="writes OUT/smoke/smoke.json (no checkpoints are kept)")
    s.add_argument("--record", default=None, help="write the record here instead")
    s.add_argument("--device", default="cpu")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--threads", type=int, default=1, help="torch CPU threads per table process")
    s.add_argument("--memory-cap-gib", type=float, default=8.0,
                   help="between tables that share models, drop the kept ones above this much resident memory")
    s.add_argument("--in-process", action="store_true",
                   help="run every table in this process (default: each group of tables in a fresh one)")
    s.add_argument("--profile", default="paper", choices=("paper",), help="the dry run is of the paper profile")
    g = sub.add_parser("grid", help="compute a grid of the book into results/NAME.json (resumable)")
    g.add_argument("name", help="a grid name, or 'list' for every grid and whether its record is current")
    g.add_argument("--cells", action="append", default=[], help="only these cells (comma-separated)")
    g.add_argument("--fresh", action="store_true", help="start a new record (after a configuration change); with --cells, recompute those cells")
    g.add_argument("--device", default="cpu")
    c = sub.add_parser("compare", help="put a method on the comparison's footing: its cells into results/compare.json, "
                                       "then its rows (rmm_lib.footing)")
    c.add_argument("--method", help="a registered method's name (--list shows them)")
    c.add_argument("--module", action="append", default=[], help="import this module first (it registers a method)")
    c.add_argument("--cells", action="append", default=[], help="only these cells (comma-separated)")
    c.add_argument("--fresh", action="store_true", help="start the method's section anew; with --cells, recompute those")
    c.add_argument("--root", default=None, help="the folder of the record (default: the repository's results/)")
    c.add_argument("--list", action="store_true", help="list the registered methods")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    args.argv = argv
    try:
        return {"list": cmd_list, "run": cmd_run, "smoke": cmd_smoke, "grid": cmd_grid,
                "compare": cmd_compare}[args.command](args)
    except (KeyError, FileNotFoundError, ValueError, TypeError, ModuleNotFoundError) as err:
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
