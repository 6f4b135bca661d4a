"""``python -m benchmark`` and the ``stickerbench`` command."""

import gc
import sys

from benchmark.cli import main


def program() -> None:
    """:func:`~benchmark.cli.main`, then exit without a last collection over every object torch and
    transformers made (about 1 s). Not in ``main`` itself, which tests and scripts call in a
    process that goes on."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    program()
