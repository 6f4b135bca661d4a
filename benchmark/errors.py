"""User-facing errors: the CLI prints them as one line and exits non-zero, no traceback."""


class BenchmarkError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""


class DataError(BenchmarkError):
    """A dataset file, sample or sticker is malformed or missing."""


class SelectorError(BenchmarkError):
    """A selector is unknown, misconfigured, or returned invalid scores."""
