"""``python -m benchmark knowledge build``: the subcommand CKS contributes to the CLI.

It is registered as the entry point ``knowledge`` of the group ``stickerbench.commands``
(``pyproject.toml``), which :mod:`benchmark.cli` loads on every start, so the harness names no
selector. Because every start imports this module, it imports only argparse-level code at the
top; the dataset, COMET and torch are imported when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli_args import int_at_least, key_value


def add_command(subparsers) -> None:
    """Add ``knowledge`` (with its one sub-subcommand, ``build``) to argparse's ``subparsers``."""
    p = subparsers.add_parser("knowledge", help="precompute CKS's COMET commonsense knowledge")
    knowledge_sub = p.add_subparsers(dest="knowledge_command", required=True)
    b = knowledge_sub.add_parser(
        "build",
        help="generate COMET knowledge for every utterance of a dataset (cached; a second build generates nothing)",
    )
    b.add_argument("--dataset", default="mojichat", choices=["mojichat", "mod"], help="dataset (default mojichat)")
    b.add_argument("--data-dir", type=Path, help="dataset directory in the MOD layout")
    b.add_argument("--language", choices=["en", "zh"], default="en", help="MOD files to read: e_* (en) or c_* (zh)")
    b.add_argument(
        "--preset",
        choices=["tiny", "paper"],
        help="tiny (a tiny random BART) or paper (COMET-BART; default paper on mod, tiny otherwise)",
    )
    b.add_argument(
        "--seed", type=int_at_least(0), default=0, help="the run's seed (tiny: which random COMET; default 0)"
    )
    b.add_argument("--device", default="auto", help="cpu, cuda, ... (default: cuda when available)")
    b.add_argument(
        "--option",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="e.g. comet_model=/path/to/comet-atomic-2020-bart (a local directory or hub id)",
    )
    b.set_defaults(func=cmd_knowledge_build)


def cmd_knowledge_build(args: argparse.Namespace) -> int:
    from benchmark.datasets import cache_root, load_dataset
    from benchmark.run_config import resolve_device
    from stickerbench.adapters.cks.knowledge import build_knowledge

    dataset = load_dataset(args.dataset, args.data_dir, language=args.language)
    preset = args.preset or ("paper" if args.dataset == "mod" else "tiny")
    options = dict(args.option)
    made, total, folder = build_knowledge(
        dataset, preset, cache_root(), options, resolve_device(args.device), args.seed
    )
    print(f"knowledge: generated {made} vectors, {total} cached in {folder}")
    return 0
