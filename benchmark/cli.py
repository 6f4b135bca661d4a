"""``python -m benchmark``: run | list | leaderboard | train | data | knowledge.

User errors (a bad file, an unknown selector, invalid scores) print one line saying what is
wrong and what to do, and exit with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from benchmark.errors import BenchmarkError

PAPER_LINEUP = "random,popularity,clip,vilt,blip2,mod-gpt,mmbert,fromage,cks"


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="mojichat", choices=["mojichat", "mod"],
                   help="mojichat (embedded, generated offline on first use) or mod (needs --data-dir); default: mojichat")
    g.add_argument("--data-dir", type=Path, help="dataset directory in the MOD (DSTC10 Track 1) layout")
    g.add_argument("--data-file", type=_key_value, action="append", default=[], metavar="ROLE=PATH",
                   help="name a file explicitly instead of finding it by name; ROLE is train, validation, "
                        "test_easy.task2, test_easy.task3, test_hard.task2, ... (repeatable)")


def _add_train_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training (defaults: each selector's paper recipe, scaled for its preset)")
    g.add_argument("--epochs", type=int, help="maximum number of epochs")
    g.add_argument("--lr", type=float, help="peak learning rate")
    g.add_argument("--train-batch-size", type=int, help="global training batch size")
    g.add_argument("--weight-decay", type=float, help="AdamW weight decay")
    g.add_argument("--grad-accum", type=int, default=1, help="gradient accumulation steps (default 1)")
    g.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    g.add_argument("--patience", type=int, default=2,
                   help="early stopping: epochs without a better validation MRR (default 2; 0 disables)")


def _add_selector_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("selectors")
    g.add_argument("--preset", choices=["tiny", "paper"],
                   help="preset for every selector (default: tiny on mojichat, paper on mod); "
                        "NAME@PRESET in --models sets one")
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    g.add_argument("--include-package", action="append", default=[], metavar="MODULE",
                   help="import MODULE first so that its @register_selector factories exist (repeatable)")
    g.add_argument("--ocr", choices=["none", "rapidocr", "paddleocr"], default="rapidocr",
                   help="OCR engine for sticker text used by MMBERT and CKS (default rapidocr, offline)")
    g.add_argument("--option", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="selector option, e.g. clip_model=/path/to/clip or comet_model=/path (repeatable)")


def _train_config(args: argparse.Namespace):
    from benchmark.selector import TrainConfig

    return TrainConfig(
        epochs=args.epochs,
        batch_size=args.train_batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        grad_accum=args.grad_accum,
        max_steps=args.max_steps,
        patience=args.patience or None,
    )


def _options(args: argparse.Namespace) -> dict[str, str]:
    return {"ocr": args.ocr, **dict(args.option)}


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.runner import RunConfig, run

    cfg = RunConfig(
        models=_csv(args.models),
        dataset=args.dataset,
        data_dir=args.data_dir,
        data_files=dict(args.data_file),
        splits=_csv(args.splits) if args.splits else None,
        candidates=args.candidates,
        num_candidates=args.num_candidates,
        seed=args.seed,
        output=args.output,
        preset=args.preset,
        checkpoints={k: Path(v) for k, v in args.checkpoint},
        no_train=args.no_train,
        batch_size=args.batch_size,
        device=args.device,
        include_packages=args.include_package,
        options=_options(args),
        train=_train_config(args),
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    run(cfg)
    out = cfg.output_dir()
    print((out / "leaderboard.md").read_text())
    print(f"results: {out / 'results.json'}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from benchmark.registry import available_selectors, include_package

    for module in args.include_package:
        include_package(module)
    for name, source, summary in available_selectors(args.pattern):
        print(f"{name}\t{source}\t{summary}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from benchmark.io import atomic_write_text
    from benchmark.results import load_results
    from leaderboard.render import render_runs

    runs = []
    for run_dir in args.run_dirs:
        results = load_results(run_dir)
        if results is None:
            raise BenchmarkError(f"{run_dir}: no results.json here; pass a directory written by `run`")
        runs.append(results)
    text = render_runs(runs, reference=args.reference, stderr=args.stderr)
    if args.output:
        atomic_write_text(args.output, text)
    else:
        print(text, end="")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from benchmark.runner import train_to_directory

    path = train_to_directory(
        model=args.model,
        dataset_name=args.dataset,
        data_dir=args.data_dir,
        data_files=dict(args.data_file),
        preset=args.preset,
        seed=args.seed,
        device=args.device,
        options=_options(args),
        train=_train_config(args),
        output=args.output,
        include_packages=args.include_package,
    )
    if path is not None:
        print(f"checkpoint: {path}")
    return 0


def cmd_data_build(args: argparse.Namespace) -> int:
    if args.name != "mojichat":
        raise BenchmarkError(f"only mojichat can be built; {args.name!r} must be obtained from its authors")
    from benchmark.datasets import cache_root
    from benchmark.datasets.mojichat import build_mojichat
    from benchmark.datasets.mojichat.build import mojichat_dir

    out = args.out or mojichat_dir(cache_root() / "datasets", args.seed, args.bias_strength)
    path = build_mojichat(Path(out), seed=args.seed, bias_strength=args.bias_strength)
    print(f"mojichat written to {path}")
    return 0


def cmd_knowledge_build(args: argparse.Namespace) -> int:
    from benchmark.knowledge import cmd_knowledge_build as build

    return build(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description="stickerbench: compare sticker selectors on identical, fingerprinted candidate sets.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the harness does")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train (if needed) and evaluate selectors; write results and a leaderboard")
    p.add_argument("--models", default=PAPER_LINEUP,
                   help=f"comma-separated selector names, NAME@PRESET allowed (default: {PAPER_LINEUP})")
    _add_data_args(p)
    g = p.add_argument_group("evaluation")
    g.add_argument("--splits", help="comma-separated splits to evaluate (default: every split but train)")
    g.add_argument("--candidates", choices=["sampled", "official"], default="sampled",
                   help="sampled: gold + N-1 uniform negatives per sample (default); official: the task-2 files' sets")
    g.add_argument("--num-candidates", type=int, default=10, help="N for sampled candidate sets (default 10)")
    g.add_argument("--seed", type=int, default=0, help="seed of candidate sets, training and random scores (default 0)")
    g.add_argument("--output", "-o", type=Path,
                   help="run directory (default: runs/<dataset>-<candidates><N>-seed<seed>); re-running resumes it")
    g.add_argument("--batch-size", type=int, default=32, help="queries per scoring batch (default 32)")
    g.add_argument("--overwrite", action="store_true", help="delete the run directory first instead of resuming")
    g.add_argument("--no-progress", action="store_true", help="hide the per-split scoring progress bars (training and encoding keep theirs)")
    _add_selector_args(p)
    g = p.add_argument_group("checkpoints")
    g.add_argument("--checkpoint", type=_key_value, action="append", default=[], metavar="NAME=PATH",
                   help="use this fine-tuned checkpoint for selector NAME instead of training (repeatable)")
    g.add_argument("--no-train", action="store_true", help="fail instead of training when a checkpoint is missing")
    _add_train_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("list", help="list selectors, one a line: name, source, summary")
    p.add_argument("pattern", nargs="?", default="*", help="glob on names, e.g. 'cks*'")
    p.add_argument("--include-package", action="append", default=[], metavar="MODULE",
                   help="import MODULE first so that its selectors are listed (repeatable)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("leaderboard", help="render Markdown tables from run directories")
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("-o", "--output", type=Path, help="write to FILE instead of standard output")
    p.add_argument("--reference", action="store_true", help="also show the CKS paper's reported numbers, labelled")
    p.add_argument("--stderr", action="store_true",
                   help="print each number as mean ± standard error over the split's samples")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("train", help="train one selector and save its checkpoint directory (torchrun for DDP)")
    p.add_argument("--model", required=True, help="selector name (NAME@PRESET allowed)")
    _add_data_args(p)
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--output", "-o", type=Path, required=True, help="checkpoint directory to write")
    _add_selector_args(p)
    _add_train_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("data", help="build the embedded dataset")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    b = data_sub.add_parser("build", help="generate a dataset in the MOD layout (deterministic, offline)")
    b.add_argument("name", choices=["mojichat"], help="dataset to build")
    b.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    b.add_argument("--out", type=Path, help="output directory (default: the cache directory used by run)")
    b.add_argument("--bias-strength", type=float, default=0.9,
                   help="how often bias words co-occur with their emotion's stickers in training (default 0.9)")
    b.set_defaults(func=cmd_data_build)

    p = sub.add_parser("knowledge", help="precompute CKS's COMET commonsense knowledge")
    knowledge_sub = p.add_subparsers(dest="knowledge_command", required=True)
    b = knowledge_sub.add_parser("build", help="generate COMET knowledge for every utterance of a dataset "
                                               "(cached; a second build generates nothing)")
    b.add_argument("--dataset", default="mojichat", choices=["mojichat", "mod"], help="dataset (default mojichat)")
    b.add_argument("--data-dir", type=Path, help="dataset directory in the MOD layout")
    b.add_argument("--preset", choices=["tiny", "paper"],
                   help="tiny (a tiny random BART) or paper (COMET-BART; default paper on mod, tiny otherwise)")
    b.add_argument("--seed", type=int, default=0, help="the run's seed (tiny: which random COMET; default 0)")
    b.add_argument("--device", default="auto", help="cpu, cuda, ... (default: cuda when available)")
    b.add_argument("--option", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="e.g. comet_model=/path/to/comet-atomic-2020-bart (a local directory or hub id)")
    b.set_defaults(func=cmd_knowledge_build)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.func(args)
    except BenchmarkError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished results are kept; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
