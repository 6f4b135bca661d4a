"""``python -m benchmark data build|bias-words``: make the embedded dataset, or mine a dataset's bias words."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.cli_args import add_data_args, float_in, int_at_least
from benchmark.errors import BenchmarkError


def add_data_command(subparsers) -> None:
    p = subparsers.add_parser("data", help="build the embedded dataset, or mine a dataset's bias words")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    b = data_sub.add_parser("build", help="generate a dataset in the MOD layout (deterministic, offline)")
    b.add_argument("name", choices=["mojichat"], help="dataset to build")
    b.add_argument("--seed", type=int_at_least(0), default=0, help="generator seed (default 0)")
    b.add_argument("--out", type=Path, help="output directory (default: the cache directory used by run)")
    b.add_argument(
        "--bias-strength",
        type=float_in(0, 1),
        default=0.9,
        help="how often bias words co-occur with their emotion's stickers in training (default 0.9)",
    )
    b.add_argument(
        "--scale",
        choices=["default", "mod"],
        default="default",
        help="default: the embedded dataset (205 stickers, ~4.9k training samples); mod: MOD's size (307 "
        "stickers, ~152k training samples, 3.2k validation samples, 3.2k easy, 7k hard and 3.2k bias test "
        "items), read by run as --dataset mojichat-mod (default: default)",
    )
    b.set_defaults(func=cmd_data_build)
    b = data_sub.add_parser(
        "bias-words",
        help="mine the words whose presence predicts the gold emotion far beyond chance in train "
        "(log-odds with an informative prior, Bonferroni threshold); prints word, emotion, z-score, count",
    )
    add_data_args(b)
    b.add_argument("--top", type=int_at_least(1), default=50, help="how many to print, strongest first (default 50)")
    b.add_argument("--min-count", type=int_at_least(1), default=20, help="training samples a word needs (default 20)")
    b.add_argument("--json", type=Path, metavar="FILE", help="write every mined (word, emotion) as JSON")
    b.set_defaults(func=cmd_data_bias_words)


def cmd_data_bias_words(args: argparse.Namespace) -> int:
    import json

    from benchmark.bias_words import mine_bias_words
    from benchmark.datasets import load_dataset
    from benchmark.io import atomic_write_text

    dataset = load_dataset(args.dataset, args.data_dir, dict(args.data_file), language=args.language)
    mined = mine_bias_words(dataset, min_count=args.min_count)
    for b in mined[: args.top]:
        print(f"{b.word}\t{b.emotion}\t{b.score:.2f}\t{b.count}")
    if args.json:
        atomic_write_text(args.json, json.dumps([b.to_json() for b in mined], indent=2) + "\n")
    return 0


def cmd_data_build(args: argparse.Namespace) -> int:
    if args.name != "mojichat":
        raise BenchmarkError(f"only mojichat can be built; {args.name!r} must be obtained from its authors")
    from benchmark.datasets import cache_root
    from benchmark.datasets.mojichat import build_mojichat
    from benchmark.datasets.mojichat.build import mojichat_dir

    out = args.out or mojichat_dir(cache_root() / "datasets", args.seed, args.bias_strength, args.scale)
    path = build_mojichat(Path(out), seed=args.seed, bias_strength=args.bias_strength, size=args.scale)
    name = "mojichat" if args.scale == "default" else f"mojichat-{args.scale}"
    print(f"{name} written to {path}")
    return 0
