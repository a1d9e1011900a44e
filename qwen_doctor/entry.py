"""Console entry point. Kept import-light: ``qwen-doctor --version`` imports nothing but this package."""

from __future__ import annotations

import sys
from typing import Optional

from . import __version__


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["--version"], ["-V"]):
        try:
            sys.stdout.write(f"qwen-doctor {__version__}\n")
            sys.stdout.flush()
        except (OSError, AttributeError, ValueError):  # stdout closed or full: exit 4, quietly
            import os

            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            except OSError:
                pass
            return 4
        return 0
    if args[:1] == ["check"]:  # the tokenizer load, the slowest fact, starts while the CLI is imported
        from .prefetch import start

        start(args)
    from .cli import main as cli_main

    return cli_main(args)
