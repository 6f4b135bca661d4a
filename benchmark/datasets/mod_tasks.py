"""MOD's task files as samples: task 2 (choose the sent sticker from an official set) and task 3
(its emotion), for the test splits and the official validation split.

A task-2 item is a ``history`` ending with the text sent with the sticker, a ``candidate.set``
and ``answer.img_id``; a task-3 item is the same history, its last turn now carrying the sent
sticker's ``img_id``, and ``answer.emotion_id``.

**Blind items.** The test release is blind: ``answer.img_id`` and ``answer.emotion_id`` are ``""``.
Such an item is a sample whose ``gold`` (or ``emotion``) is ``None``: it is scored and exported,
never given a made-up answer. A task-2 file is either annotated or blind; one with both is refused
(partly annotated copies circulate, and which part to trust is the user's call) unless
``annotated_only`` keeps its annotated items, with a warning counting the others.

**Joining task 3 to task 2.** When both files list the same histories (speakers and texts) in the
same order, as the organisers' files do, item n of one is item n of the other; an annotated item
whose task-3 item sends another sticker than its gold is then refused, since the two files would
describe different things, and a blind item's sent sticker must be in its candidate set. Otherwise
items are matched by content: an annotated item takes the task-3 item with its history and its
gold (as before this layout was read); a blind item the one with its history, unless task-3 items
with that history send different stickers, in which case it gets none, counted in one warning. The
sticker found is ``meta["sent_sticker"]`` (an annotated item's is its gold) and the task-3 item's
position ``meta["task3_index"]``; an item without a counterpart has no emotion.

**Speakers.** The answer's ``speaker_id`` should be the last history turn's speaker (MMBERT's code
asserts it, so the release has no exception). A file that breaks it was edited or derived; the
sample's speaker is then the answer's (the task's own statement of who sends the sticker; the
scorer never reads speakers), and one warning per file counts the mismatches. Refusing would stop
a whole split over a field most selectors ignore; taking the history's speaker would overrule the
file's explicit answer.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.candidates import OFFICIAL_KEY
from benchmark.datasets.mod_parse import Parser, has_sticker, history_key, item_meta, speaker_name
from benchmark.errors import DataError
from benchmark.io import read_json
from benchmark.types import Sample, Utterance

log = logging.getLogger("stickerbench")


@dataclass(frozen=True)
class _Task3:
    index: int
    key: tuple
    sticker: str
    emotion: int | None


@dataclass(frozen=True)
class _Task2:
    index: int
    key: tuple
    context: tuple[Utterance, ...]
    speaker: str
    last_speaker: str
    gold: str | None
    official: tuple[str, ...]
    meta: dict


def _items(path: Path, task: str) -> list:
    items = read_json(path)
    if not isinstance(items, list):
        raise DataError(f"{path}: expected a list of {task} items")
    return items


def _check_candidate_sizes(path: Path, sizes: list[int]) -> None:
    """One split, one candidate-set size: results are labelled by it (R@1 of 11), which a set of
    5 among sets of 11 would silently misstate."""
    if len(set(sizes)) > 1:
        common = Counter(sizes).most_common(1)[0][0]
        n = next(n for n, size in enumerate(sizes) if size != common)
        raise DataError(
            f"{path}, item {n}: has {sizes[n]} candidates, most others {common}; the official candidate sets "
            "of a split must all have the same size (fix the task-2 file or use --candidates sampled)"
        )


def _task2_item(parser: Parser, item: Any, n: int, path: Path) -> _Task2:
    where = f"{path}, item {n}"
    if not isinstance(item, dict):
        raise DataError(f"{where}: expected an object")
    for key in ("history", "candidate", "answer"):
        if key not in item:
            raise DataError(f"{where}: missing field {key!r}")
    history = item["history"]
    if not isinstance(history, list) or not history:
        raise DataError(f"{where}: field 'history' must be a non-empty list of turns")
    context = tuple(parser.utterance(t, f"{where}, history turn {i}") for i, t in enumerate(history))
    last = context[-1]
    answer, candidate = item["answer"], item["candidate"]
    if not isinstance(answer, dict) or "img_id" not in answer:
        raise DataError(f"{where}: field 'answer' needs an 'img_id'")
    if not isinstance(candidate, dict) or not isinstance(candidate.get("set"), list):
        raise DataError(f"{where}: field 'candidate' needs a 'set' list")
    blind = answer["img_id"] is None or answer["img_id"] == ""
    gold = None if blind else parser.sticker(answer["img_id"], f"{where}, answer")
    official = tuple(parser.sticker(c, f"{where}, candidate set") for c in candidate["set"])
    if len(official) < 2:
        raise DataError(
            f"{where}: the candidate set has {len(official)} sticker(s); it needs at least 2 (the gold and a negative)"
        )
    speaker = last.speaker
    for name, part in (("answer", answer), ("candidate", candidate)):
        if part.get("speaker_id"):
            speaker = speaker_name(part["speaker_id"], f"{where}, {name}")
            break
    return _Task2(
        index=n,
        key=history_key(history),
        context=(*context[:-1], Utterance(last.speaker, last.text)),
        speaker=speaker,
        last_speaker=last.speaker,
        gold=gold,
        official=official,
        meta=item_meta(item.get("meta"), where),
    )


def _task3_items(parser: Parser, path: Path) -> list[_Task3]:
    found = []
    for n, item in enumerate(_items(path, "task-3")):
        where = f"{path}, item {n}"
        history = item.get("history") if isinstance(item, dict) else None
        answer = item.get("answer") if isinstance(item, dict) else None
        if not isinstance(history, list) or not history or not isinstance(answer, dict):
            raise DataError(f"{where}: expected 'history' (non-empty list) and 'answer' (object)")
        for i, turn in enumerate(history):
            if not isinstance(turn, dict):
                raise DataError(f"{where}, history turn {i}: a turn must be an object, got {type(turn).__name__}")
        if not has_sticker(history[-1]):
            raise DataError(f"{where}: the last history turn must carry the sent sticker's 'img_id'")
        if "emotion_id" not in answer:
            raise DataError(f"{where}: field 'answer.emotion_id' is missing")
        emotion = parser.emotion(answer["emotion_id"], f"{where}, answer")
        found.append(_Task3(n, history_key(history), parser.sticker(history[-1]["img_id"], where), emotion))
    return found


class _Join:
    """Which task-3 item belongs to which task-2 item (see the module's docstring)."""

    def __init__(self, items: list[_Task3], task2: list[_Task2], path: Path):
        self.items, self.path = items, path
        self.aligned = len(items) == len(task2) and all(a.key == b.key for a, b in zip(items, task2))
        self.by_content: dict[tuple, _Task3] = {}
        self.stickers: dict[tuple, set[str]] = {}
        if self.aligned:
            return
        for t in items:
            known = self.by_content.get((t.key, t.sticker))
            if known is not None and None not in (known.emotion, t.emotion) and known.emotion != t.emotion:
                raise DataError(f"{path}, item {t.index}: the same history and sticker carry two different emotions")
            if known is None or known.emotion is None:
                self.by_content[(t.key, t.sticker)] = t
            self.stickers.setdefault(t.key, set()).add(t.sticker)

    def find(self, item: _Task2, task2_path: Path) -> _Task3 | None:
        if self.aligned:
            found = self.items[item.index]
            if item.gold is not None and found.sticker != item.gold:
                raise DataError(
                    f"{self.path}, item {item.index}: sends sticker {found.sticker!r} but {task2_path.name} item "
                    f"{item.index}'s answer is {item.gold!r}; the task-2 and task-3 files must describe the same items"
                )
            if item.gold is None and found.sticker not in item.official:  # a gold's is checked with its set
                raise DataError(
                    f"{self.path}, item {item.index}: the sent sticker {found.sticker!r} is not in the candidate "
                    f"set of {task2_path.name} item {item.index}; the two files must describe the same items"
                )
            return found
        if item.gold is not None:
            return self.by_content.get((item.key, item.gold))
        stickers = self.stickers.get(item.key, set())
        return self.by_content[(item.key, next(iter(stickers)))] if len(stickers) == 1 else None


def _keep_annotated(path: Path, items: list[_Task2], annotated_only: bool) -> list[_Task2]:
    """A split is annotated or blind; a mixed file only with ``annotated_only``, which keeps the
    annotated part and says how much it dropped."""
    blind = [t for t in items if t.gold is None]
    if not blind or len(blind) == len(items):
        return items
    kept = len(items) - len(blind)
    if not annotated_only:
        raise DataError(
            f"{path}: {kept} of {len(items)} items have an answer and {len(blind)} are blind (empty "
            f"answer.img_id, first item {blind[0].index}); a split must be all annotated or all blind: "
            f"pass --annotated-only to keep the {kept} annotated items"
        )
    log.warning("%s: kept the %d annotated items, dropped %d blind ones (--annotated-only)", path, kept, len(blind))
    return [t for t in items if t.gold is not None]


def _warn_speakers(path: Path, items: list[_Task2]) -> None:
    wrong = [t for t in items if t.speaker != t.last_speaker]
    if wrong:
        first = wrong[0]
        log.warning(
            "%s: %d of %d items give answer.speaker_id another speaker than the last history turn "
            "(first: item %d, %r vs %r); the answer's speaker is used",
            path,
            len(wrong),
            len(items),
            first.index,
            first.speaker,
            first.last_speaker,
        )


def task_samples(
    parser: Parser, split: str, task2: Path, task3: Path | None, annotated_only: bool = False
) -> list[Sample]:
    """The samples of one task-2 file, labelled from its task-3 file when there is one."""
    items = [_task2_item(parser, item, n, task2) for n, item in enumerate(_items(task2, "task-2"))]
    _check_candidate_sizes(task2, [len(t.official) for t in items])
    _warn_speakers(task2, items)
    join = _Join(_task3_items(parser, task3), items, task3) if task3 is not None else None
    items = _keep_annotated(task2, items, annotated_only)
    samples, unmatched = [], 0
    for t in items:
        meta = {**t.meta, OFFICIAL_KEY: t.official, "index": t.index}
        found = join.find(t, task2) if join is not None else None
        if join is not None:
            sent = t.gold if t.gold is not None else (found.sticker if found else None)
            if sent is not None:
                meta["sent_sticker"] = sent
            if found is not None:
                meta["task3_index"] = found.index
            unmatched += t.gold is None and found is None
        emotion = found.emotion if found is not None else None
        samples.append(Sample(f"{split}/{t.index}", t.context, t.speaker, t.gold, emotion, meta))
    if unmatched:
        log.warning(
            "%s: %d blind items of %s have no task-3 item with their history (or several sending different "
            "stickers): they have no sent sticker",
            task3,
            unmatched,
            task2.name,
        )
    return samples
