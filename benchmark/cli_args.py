"""Argument types and option groups shared by the harness's commands and by commands an adapter contributes.

Range checks live in the types, so ``--batch-size -1`` is refused by argparse with one line
before anything runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.precision import AUTOCAST_MODES


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def int_at_least(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer ≥ {low}"
    return parse


def float_in(low: float, high: float | None = None, open_low: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value != value or (value <= low if open_low else value < low) or (high is not None and value > high):
            bound = f"in {'(' if open_low else '['}{low}, {high if high is not None else '∞'}]"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def seed_list(text: str) -> list[int]:
    """``0,1,2`` → ``[0, 1, 2]``: distinct non-negative integers."""
    seeds = []
    for item in csv_list(text):
        if not item.isdigit():
            raise argparse.ArgumentTypeError(f"{item!r} is not a non-negative integer; write e.g. 0,1,2")
        seeds.append(int(item))
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: give each seed once, e.g. 0,1,2")
    return seeds


def add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--dataset",
        default="mojichat",
        choices=["mojichat", "mojichat-mod", "mod"],
        help="mojichat (embedded, generated offline on first use), mojichat-mod (MojiChat at MOD's size: 307 "
        "stickers, ~152k training samples; generated on first use, about a minute) or mod (needs --data-dir); "
        "default: mojichat",
    )
    g.add_argument("--data-dir", type=Path, help="dataset directory in the MOD (DSTC10 Track 1) layout")
    g.add_argument(
        "--data-file",
        type=key_value,
        action="append",
        default=[],
        metavar="ROLE=PATH",
        help="name a file explicitly instead of finding it by name; ROLE is train, validation, "
        "validation.task2, validation.task3, test_easy.task2, test_easy.task3, test_hard.task2, ..., "
        "img2id, id2img, emotion_dict, emotions, sticker_meta or ocr (repeatable)",
    )
    g.add_argument(
        "--language",
        choices=["en", "zh"],
        default="en",
        help="which of MOD's languages to read: en (the e_ files, as the CKS paper) or zh (the c_ files); "
        "files without a language prefix are read either way (default en)",
    )
    g.add_argument(
        "--annotated-only",
        action="store_true",
        help="keep only the annotated items of a partly annotated task-2 file (by default such a split "
        "is refused: a split is either annotated or blind)",
    )


def add_train_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training (defaults: each selector's paper recipe, scaled for its preset)")
    g.add_argument("--epochs", type=int_at_least(1), help="maximum number of epochs")
    g.add_argument("--lr", type=float_in(0, open_low=True), help="peak learning rate")
    g.add_argument("--train-batch-size", type=int_at_least(1), help="global training batch size")
    g.add_argument("--weight-decay", type=float_in(0), help="AdamW weight decay")
    g.add_argument("--grad-accum", type=int_at_least(1), default=1, help="gradient accumulation steps (default 1)")
    g.add_argument("--max-steps", type=int_at_least(1), help="stop after this many optimiser steps")
    g.add_argument(
        "--patience",
        type=int_at_least(0),
        default=2,
        help="early stopping: epochs without a better validation MRR (default 2; 0 disables)",
    )


def jobs_value(text: str) -> int | str:
    return "auto" if text == "auto" else int_at_least(1)(text)


def add_compute_args(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--batch-size",
        type=int_at_least(1),
        help="scoring batch in the unit each selector declares: queries for dual encoders (CLIP, MOD-GPT, "
        "FROMAGe; default 32), (query, candidate) pairs for cross-encoders (ViLT, BLIP-2, MMBERT, CKS; "
        "default 256, whole queries only)",
    )
    g.add_argument(
        "--autocast",
        choices=AUTOCAST_MODES,
        default="off",
        help="score (and encode stickers) under torch.autocast in bf16 or fp16; recorded in every result's "
        "identity, so a run directory never mixes precisions (default off: fp32)",
    )
    g.add_argument(
        "--jobs",
        type=jobs_value,
        default=1,
        metavar="N|auto",
        help="train up to N missing checkpoints at once, each in a process of its own with cores/N torch "
        "threads, while the run scores the selectors already trained; once fewer trainings than N run, N-1 "
        "scoring workers take whole selectors or pieces of splits beside the run (auto: one more than the CPU "
        "cores, at most 8, scoring in one process per core, and 1 on a GPU; default 1). Another thread count "
        "rounds float sums differently, as on another machine, and training carries that along like another "
        "seed",
    )


def add_selector_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("selectors")
    g.add_argument(
        "--preset",
        choices=["tiny", "paper"],
        help="preset for every selector (default: tiny on mojichat, paper on mod); NAME@PRESET in --models sets one",
    )
    g.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    g.add_argument(
        "--include-package",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first so that its @register_selector factories exist (repeatable)",
    )
    g.add_argument(
        "--ocr",
        choices=["none", "rapidocr", "paddleocr"],
        default="rapidocr",
        help="OCR engine for sticker text used by MMBERT and CKS (default rapidocr, offline)",
    )
    g.add_argument(
        "--option",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="selector option, e.g. clip_model=/path/to/clip or comet_model=/path (repeatable)",
    )


def train_config(args: argparse.Namespace):
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


def selector_options(args: argparse.Namespace) -> dict[str, str]:
    return {"ocr": args.ocr, **dict(args.option)}
