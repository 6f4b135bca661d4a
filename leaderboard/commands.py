"""``report`` and ``compare``: the renderer's commands, contributed through ``stickerbench.commands``.

They read run directories only (results and predictions), so they need no selector and no GPU.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmark.cli_args import csv_list, int_at_least
from benchmark.errors import BenchmarkError
from benchmark.io import atomic_write_text


def add_report(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="write one self-contained HTML report (tables with intervals, slices, case studies)"
    )
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("-o", "--output", type=Path, help="HTML file to write (default: report.html in the first RUN_DIR)")
    p.add_argument(
        "--cases",
        type=int_at_least(0),
        default=12,
        help="case studies per split (default 12: most disagreement, and a few all-fail)",
    )
    p.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the bootstrap intervals (default 0)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from stickerbench.leaderboard.report import render_report

    out = args.output or args.run_dirs[0] / "report.html"
    html = render_report(args.run_dirs, cases_per_split=args.cases, seed=args.seed)
    try:
        atomic_write_text(out, html)
    except OSError as exc:
        raise BenchmarkError(f"-o {out}: cannot write it ({exc.strerror}); choose a writable path") from None
    print(f"report: {out} ({len(html.encode()) / 1e6:.1f} MB)")
    return 0


def add_compare(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="paired comparisons of the models in run directories: difference, 95%% CI, p and Holm-adjusted p",
    )
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("--split", type=csv_list, help="comma-separated splits (default: every split)")
    p.add_argument(
        "--metric", type=csv_list, help="comma-separated metrics (default: every ranking metric and emotion_acc)"
    )
    p.add_argument("--baseline", help="compare every model with this one only (default: every pair)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    p.add_argument(
        "--seed", type=int_at_least(0), default=0, help="seed of the bootstrap and randomisation (default 0)"
    )
    p.add_argument("--bootstrap", type=int_at_least(100), default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument(
        "--permutations", type=int_at_least(100), default=10000, help="sign-flip permutations (default 10000)"
    )
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from benchmark.compare import compare, format_comparisons

    rows = compare(
        args.run_dirs,
        splits=args.split,
        metrics=args.metric,
        baseline=args.baseline,
        seed=args.seed,
        resamples=args.bootstrap,
        permutations=args.permutations,
    )
    if not rows:
        raise BenchmarkError("nothing to compare: these run directories hold fewer than two finished models per split")
    print(format_comparisons(rows))
    print(
        "\nA − B in points; 95% CI from a paired bootstrap over samples (and seeds); p from a paired sign-flip "
        f"test; Holm-adjusted over these {len(rows)} comparisons; * = p (Holm) < 0.05."
    )
    if args.json:
        atomic_write_text(args.json, json.dumps([r.to_json() for r in rows], indent=2) + "\n")
    return 0
