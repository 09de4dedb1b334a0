"""Command-line entry points: argument parsing and printing (the top-level scripts are thin wrappers)."""
import sys
from typing import Callable, Optional, Sequence

from ..errors import USER_IO_ERRNOS, HatError


def run_cli(main: Callable[[Optional[Sequence[str]]], int], argv: Optional[Sequence[str]] = None) -> int:
    """Run ``main``: a user error (:class:`hat.errors.HatError`) prints one line ``error: ...`` and exits with
    status 2, and so does an I/O error the user can fix (permissions, read-only or full disk, file-size
    limit: :data:`hat.errors.USER_IO_ERRNOS`), naming the path; any other exception is a bug and keeps its
    traceback."""
    try:
        return main(argv)
    except HatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in USER_IO_ERRNOS:
            raise
        print(f"error: {exc.filename or 'an output file'}: {exc.strerror}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def stderr_log(line: str) -> None:
    """Progress logger writing to stderr (the ``log`` of a tool whose stdout is its result)."""
    print(line, file=sys.stderr, flush=True)
