"""Console entry point. Kept import-light: ``qwen-doctor --version`` imports nothing but this package."""

from __future__ import annotations

import sys
from typing import List, Optional

from . import __version__


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args in (["--version"], ["-V"]):
        sys.stdout.write(f"qwen-doctor {__version__}\n")
        return 0
    from .cli import main as cli_main

    return cli_main(args)
