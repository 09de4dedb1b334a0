"""Command-line entry points: argument parsing and printing (the top-level scripts are thin wrappers)."""
import sys
from typing import Callable, Optional, Sequence

from ..errors import HatError


def run_cli(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> int:
    """Run ``main``: a user error (:class:`hat.errors.HatError`) prints one line ``error: ...`` and exits with
    status 2; any other exception is a bug and keeps its traceback."""
    try:
        return main(argv)
    except HatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
