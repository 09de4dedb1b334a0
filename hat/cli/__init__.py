"""Command-line entry points (the top-level scripts are thin wrappers around these)."""
import sys
from typing import Callable, Optional, Sequence

from ..checkpoint import CheckpointError
from ..download import DownloadError
from ..search_space import ConfigError

USER_ERRORS = (ConfigError, CheckpointError, DownloadError, FileNotFoundError, ValueError)


def run_cli(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> int:
    """Run ``main``; a user error prints one line ``error: ...`` and exits with status 2."""
    try:
        return main(argv)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
