"""A run directory belongs to one run at a time, and ``--overwrite`` clears only run directories.

Two runs writing into one directory would duplicate prediction rows (understating standard
errors by √2) or drop each other's ``results.json`` entries, so ``run`` holds an exclusive
``flock`` on ``OUT/.lock`` for its whole duration; a second run fails at once, naming the
holder's pid, before writing anything. The lock is released by the kernel when the process
ends, however it ends. (``flock`` is advisory and may not work on some network file systems.)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.results import RESULTS_FILE, is_run_directory

LOCK_FILE = ".lock"


class RunLock:
    """``with RunLock(out):`` — exclusive use of a run directory (created if absent)."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise BenchmarkError(
                f"{self.run_dir} is in use by another run ({holder}); wait for it to finish or choose another --output"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def check_overwritable(run_dir: Path) -> None:
    """Refuse ``--overwrite`` of anything but an absent, empty or stickerbench run directory."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise BenchmarkError(f"--overwrite: {run_dir} is a file, not a run directory; choose another --output")
    entries = {p.name for p in run_dir.iterdir()} - {LOCK_FILE}
    if entries and not is_run_directory(run_dir):
        raise BenchmarkError(
            f"--overwrite refuses to delete {run_dir}: it is not a stickerbench run directory (no "
            f"{RESULTS_FILE} written by stickerbench); delete it yourself or choose another --output"
        )


def clear_run_directory(run_dir: Path) -> None:
    """Delete everything in a (checked, locked) run directory but the lock itself."""
    for entry in Path(run_dir).iterdir():
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
