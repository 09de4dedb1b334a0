"""Atomic file writes (a temporary file in the target's folder, flushed, then renamed over the target), and a
file's fingerprint."""
import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, Mapping, Optional, Type, Union

from .errors import USER_IO_ERRNOS, ConfigError, HatError, output_error

PathLike = Union[str, os.PathLike]


@contextlib.contextmanager
def atomic_output(path: PathLike, binary: bool = False) -> Iterator[IO[Any]]:
    """A temporary file in ``path``'s folder, renamed to ``path`` when the block ends without error (and
    deleted when it raises): readers never see a half file. A full disk, a read-only folder or a file-size
    limit is an :class:`~hat.errors.OutputError` naming ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise (output_error(path, exc) if exc.errno in USER_IO_ERRNOS else exc) from None
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno in USER_IO_ERRNOS:
            raise output_error(path, exc) from None
        raise


def atomic_write(path: PathLike, write: Callable[[IO[Any]], None], binary: bool = False) -> None:
    """Call ``write(file)`` on a temporary file, then rename it to ``path`` (see :func:`atomic_output`)."""
    with atomic_output(path, binary) as stream:
        write(stream)


def write_text_atomic(path: PathLike, text: str) -> None:
    atomic_write(path, lambda stream: stream.write(text))


def changed_settings(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> List[str]:
    """``'key: old -> new'`` for every key whose value differs between two settings records."""
    return [f"{key}: {recorded.get(key)!r} -> {current.get(key)!r}"
            for key in sorted(set(recorded) | set(current)) if recorded.get(key) != current.get(key)]


def check_recorded_settings(recorded: Mapping[str, Any], settings: Mapping[str, Any],
                            refusal: Callable[[str], str]) -> None:
    """Refuse to resume a long run whose output was made with other settings.

    ``recorded`` are the settings saved beside the output (as read back from JSON), ``settings`` this run's,
    compared as JSON reads them back (tuples as lists). When any differs, raises
    :class:`hat.errors.ConfigError` with the message ``refusal(changes)``, where ``changes`` names every
    difference (``'key: old -> new; ...'``, :func:`changed_settings`).
    """
    changed = changed_settings(recorded, json.loads(json.dumps(settings)))
    if changed:
        raise ConfigError(refusal("; ".join(changed)))


def read_json_record(path: PathLike, error: Type[HatError], what: str) -> Optional[Dict[str, Any]]:
    """The JSON object recorded in ``path`` (a settings sidecar), None if there is no such file; a file that
    is not a JSON object raises ``error`` naming it as ``what``."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text())
    except ValueError as exc:
        raise error(f"{path} is not a valid {what} ({exc}); remove it, or what it describes") from None
    if not isinstance(recorded, dict):
        raise error(f"{path} is not a valid {what} (not a JSON object)")
    return recorded


def file_sha256(path: PathLike) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

