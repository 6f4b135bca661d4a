"""``python -m benchmark``: run | list | leaderboard | rescore | export | train | data | knowledge.

User errors (a bad file, an unknown selector, invalid scores) print one line saying what is
wrong and what to do, and exit with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from benchmark.cli_args import (
    add_compute_args,
    add_data_args,
    add_selector_args,
    add_train_args,
    csv_list,
    int_at_least,
    key_value,
    seed_list,
    selector_options,
    train_config,
)
from benchmark.data_commands import add_data_command
from benchmark.errors import BenchmarkError

COMMAND_ENTRY_POINTS = "stickerbench.commands"

PAPER_LINEUP = "random,popularity,clip,vilt,blip2,mod-gpt,mmbert,fromage,cks"
NO_SIGNIFICANCE_HELP = (
    "bold only the highest value of each column; by default bold marks the best value and every value "
    "not significantly worse than it (paired sign-flip test against the best, Holm-adjusted over the "
    "column, p >= 0.05), read from the predictions files"
)


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.run_config import RunConfig
    from benchmark.runner import run

    cfg = RunConfig(
        models=csv_list(args.models),
        dataset=args.dataset,
        data_dir=args.data_dir,
        data_files=dict(args.data_file),
        language=args.language,
        annotated_only=args.annotated_only,
        splits=csv_list(args.splits) if args.splits else None,
        candidates=args.candidates,
        num_candidates=args.num_candidates,
        negatives=args.negatives,
        seed=args.seed,
        train_seeds=args.train_seeds,
        shortlist=args.shortlist,
        output=args.output,
        preset=args.preset,
        checkpoints={k: Path(v) for k, v in args.checkpoint},
        no_train=args.no_train,
        batch_size=args.batch_size,
        autocast=args.autocast,
        jobs=args.jobs,
        device=args.device,
        include_packages=args.include_package,
        options=selector_options(args),
        train=train_config(args),
        progress=not args.no_progress,
        overwrite=args.overwrite,
        rescore_changed=args.rescore_changed,
    )
    boards: list[str] = []

    def write_leaderboard(out: Path, results, dataset) -> None:
        from benchmark.io import atomic_write_text
        from stickerbench.leaderboard.render import render_runs

        boards.append(render_runs([(out, results)], significance=not args.no_significance))
        atomic_write_text(out / "leaderboard.md", boards[-1])
        from stickerbench.leaderboard.report import render_report

        try:  # the report is a view of results already saved: its failure must not hide the run's own
            report = render_report([out], significance=not args.no_significance, dataset=dataset)
            atomic_write_text(out / "report.html", report)
        except Exception as exc:
            logging.getLogger("stickerbench").warning("report.html not written: %s: %s", type(exc).__name__, exc)

    try:
        with stdout_to_stderr():  # a selector's prints never land inside the leaderboard below
            run(cfg, write_leaderboard=write_leaderboard)
    finally:
        if boards:  # also after a failure: the pairs that finished
            print(boards[-1])
            print(f"results: {cfg.output_dir() / 'results.json'}")
    return 0


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything written to standard output — Python's and C libraries' alike — to stderr."""
    sys.stdout.flush()
    saved_fd = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)


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
    from stickerbench.leaderboard.render import render_runs

    runs = [(run_dir, load_results(run_dir)) for run_dir in args.run_dirs]
    text = render_runs(runs, reference=args.reference, stderr=args.stderr, significance=not args.no_significance)
    if args.output:
        try:
            atomic_write_text(args.output, text)
        except OSError as exc:
            raise BenchmarkError(
                f"-o {args.output}: cannot write it ({exc.strerror}); choose a writable path"
            ) from None
    else:
        print(text, end="")
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    from benchmark.io import atomic_write_text
    from benchmark.rescore import rescore
    from stickerbench.leaderboard.render import render_runs

    results, changed = rescore(args.run_dir)
    atomic_write_text(args.run_dir / "leaderboard.md", render_runs([(args.run_dir, results)]))
    moved = (
        f"; numbers changed for {', '.join(changed)}"
        if changed
        else "; every number was already what the predictions give"
    )
    print(f"rescored {args.run_dir / 'results.json'} from its predictions{moved}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from benchmark.export import export_dstc10

    export_dstc10(args.run_dir, args.model, args.out, say=print)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from benchmark.train_command import train_to_directory

    path = train_to_directory(
        model=args.model,
        dataset_name=args.dataset,
        data_dir=args.data_dir,
        data_files=dict(args.data_file),
        preset=args.preset,
        seed=args.seed,
        device=args.device,
        options=selector_options(args),
        train=train_config(args),
        output=args.output,
        include_packages=args.include_package,
    )
    if path is not None:
        print(f"checkpoint: {path}")
    return 0


def _add_contributed_commands(sub) -> None:
    """Subcommands that adapters or plugins contribute: entry points ``stickerbench.commands``,
    each ``module:add_command`` taking the subparsers object (CKS adds ``knowledge``)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=COMMAND_ENTRY_POINTS):
        try:
            ep.load()(sub)
        except Exception as exc:  # a broken plugin must not take every other command down
            logging.getLogger("stickerbench").warning("command %r (%s) is unavailable: %s", ep.name, ep.value, exc)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark",
        description="stickerbench: compare sticker selectors on identical, fingerprinted candidate sets.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the harness does")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="train (if needed) and evaluate selectors; write results and a leaderboard")
    p.add_argument(
        "--models",
        default=PAPER_LINEUP,
        help=f"comma-separated selector names, NAME@PRESET allowed (default: {PAPER_LINEUP})",
    )
    add_data_args(p)
    g = p.add_argument_group("evaluation")
    g.add_argument("--splits", help="comma-separated splits to evaluate (default: every split but train)")
    g.add_argument(
        "--candidates",
        choices=["sampled", "official", "all"],
        default=None,
        help="official: the task-2 files' sets, as every published MOD number (default on --dataset mod, "
        "validation included when its task-2 file is there); sampled: gold + N-1 negatives per sample, "
        "drawn as --negatives says (default otherwise; blind splits are skipped); all: every sticker of the "
        "dataset is a candidate of every sample (full-pool retrieval: R@1/5/10/20, MRR, MAP@5)",
    )
    g.add_argument(
        "--shortlist",
        metavar="MODEL:K",
        help="with --candidates all: every other selector of --models reranks the top K (at most 100) of "
        "MODEL, which is scored on the full pool itself (or already finished in --output); the reranked "
        "rows are named NAME@MODEL:K and the stickers outside the shortlist keep MODEL's order",
    )
    g.add_argument(
        "--num-candidates", type=int_at_least(2), default=10, help="N for sampled candidate sets (default 10)"
    )
    g.add_argument(
        "--negatives",
        choices=["matched", "uniform"],
        default="matched",
        help="how sampled sets draw their negatives: matched (default) follows how often each sticker is a "
        "gold in the split, so a scorer that ignores the dialogue sits at chance; uniform draws them "
        "uniformly from every sticker, where never-used stickers are easy to rule out and a context-blind "
        "scorer is above chance (official sets ignore it)",
    )
    g.add_argument(
        "--seed",
        type=int_at_least(0),
        default=0,
        help="seed of candidate sets and random scores, and of training unless --train-seeds is given (default 0)",
    )
    g.add_argument(
        "--train-seeds",
        type=seed_list,
        metavar="S[,S...]",
        help="train every trainable selector once per seed (e.g. 0,1,2), each scored on the same candidate sets; "
        "results.json then holds each seed under models.<name>.seeds.<seed> and the mean, seed sd and a 95%% "
        "interval in models.<name>.splits (default: one seed, --seed)",
    )
    g.add_argument(
        "--output",
        "-o",
        type=Path,
        help="run directory (default: runs/<dataset>-sampled<N>-seed<seed>, with -uniform after <N> for "
        "--negatives uniform, or runs/<dataset>-official-seed<seed>); re-running resumes it",
    )
    add_compute_args(g)
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="clear the run directory first instead of resuming; refused unless it is absent, empty or "
        "a stickerbench run directory, and done only after every argument and the dataset are checked",
    )
    g.add_argument(
        "--rescore-changed",
        action="store_true",
        help="on resume, re-score the (model, split) pairs whose identity (config, options, code, "
        "checkpoint, training seed or overrides) differs from this command, instead of refusing",
    )
    g.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the per-split scoring progress bars (training and encoding keep theirs)",
    )
    g.add_argument("--no-significance", action="store_true", help=NO_SIGNIFICANCE_HELP)
    add_selector_args(p)
    g = p.add_argument_group("checkpoints")
    g.add_argument(
        "--checkpoint",
        type=key_value,
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="use this fine-tuned checkpoint for selector NAME instead of training (repeatable)",
    )
    g.add_argument("--no-train", action="store_true", help="fail instead of training when a checkpoint is missing")
    add_train_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("list", help="list selectors, one a line: name, source, summary")
    p.add_argument("pattern", nargs="?", default="*", help="glob on names, e.g. 'cks*'")
    p.add_argument(
        "--include-package",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first so that its selectors are listed (repeatable)",
    )
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("leaderboard", help="render Markdown tables from run directories")
    p.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    p.add_argument("-o", "--output", type=Path, help="write to FILE instead of standard output")
    p.add_argument("--reference", action="store_true", help="also show the CKS paper's reported numbers, labelled")
    p.add_argument(
        "--stderr",
        action="store_true",
        help="print each number as mean ± standard error over the split's samples "
        "(mean ± sd over training seeds for a selector trained under several)",
    )
    p.add_argument("--no-significance", action="store_true", help=NO_SIGNIFICANCE_HELP)
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser(
        "rescore",
        help="recompute every metric of a run directory from its predictions files "
        "and rewrite results.json and leaderboard.md",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.set_defaults(func=cmd_rescore)

    p = sub.add_parser(
        "export",
        help="write a model's DSTC10 Track 1 submission files (task 2 ranked sets, task 3 top-5 emotions) "
        "for every test split of a run",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--format", choices=["dstc10"], default="dstc10", help="submission format (default dstc10)")
    p.add_argument("--model", required=True, help="the model of the run to export (its name in results.json)")
    p.add_argument("--out", type=Path, required=True, help="directory for the files, named like the input files")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("train", help="train one selector and save its checkpoint directory (torchrun for DDP)")
    p.add_argument("--model", required=True, help="selector name (NAME@PRESET allowed)")
    add_data_args(p)
    p.add_argument("--seed", type=int_at_least(0), default=0, help="training seed (default 0)")
    p.add_argument("--output", "-o", type=Path, required=True, help="checkpoint directory to write")
    add_selector_args(p)
    add_train_args(p)
    p.set_defaults(func=cmd_train)

    add_data_command(sub)

    _add_contributed_commands(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (what SLURM and most schedulers send before a kill), handled like Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    # Nothing is downloaded at run time: hub ids resolve from the user's cache or fail at once with
    # a clear error, instead of retrying a network that may not exist. Set HF_HUB_OFFLINE=0 to allow it.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    previous_handler = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.func(args)
    except BenchmarkError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if args.debug:
            raise
        target = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {target}{exc.strerror or exc} (check the path and its permissions)", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        print(f"{what}: finished results are kept; re-run the same command to resume", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130
    finally:
        signal.signal(signal.SIGTERM, previous_handler)


if __name__ == "__main__":
    sys.exit(main())
