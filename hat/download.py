"""Resumable, verified downloads: a file appears under its final name only once complete and valid.

Bytes go to ``.<name>.part`` next to the target; an interrupted download keeps it and the next call
resumes it with an HTTP ``Range`` request (restarting if the server ignores ranges). When the server
has sent everything, the part file is verified (e.g. it must load as a checkpoint) and only then
renamed to the target; a file that fails verification is deleted.
"""
from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from tqdm import tqdm
from .errors import DownloadError

CHUNK = 1 << 16



def mirrored(url: str, mirror: Optional[str]) -> str:
    """``url`` with its scheme and host replaced by those of ``mirror`` (a path prefix of the mirror is kept in
    front of the original path, so the file name stays the last path component)."""
    if not mirror:
        return url
    target, base = urllib.parse.urlsplit(url), urllib.parse.urlsplit(mirror)
    if not base.scheme or not base.netloc:
        raise DownloadError(f"mirror {mirror!r} is not a URL like http://host[:port][/prefix]")
    return urllib.parse.urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + target.path, target.query, ""))


def part_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")


def download(url: str, path: str | Path, verify: Callable[[Path], None], timeout: float = 60.0,
             progress: bool = True) -> Path:
    """Download ``url`` to ``path`` (resuming a partial download), check it with ``verify(file)`` (which raises
    on a bad file) and rename it into place. Raises :class:`DownloadError`."""
    path = Path(path)
    part = part_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "hat-download/1.0",
                                                   **({"Range": f"bytes={done}-"} if done else {})})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and done:  # nothing left to send: the part file is complete
            return _finish(part, path, verify)
        raise DownloadError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {urllib.parse.urlsplit(url).netloc} ({reason}): are you offline? "
                            "A mirror can be given with --mirror") from None
    with response:
        if done and response.status != 206:  # the server ignored the range: start again
            done = 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length is not None else None
        received = done
        with open(part, "ab" if done else "wb") as stream, \
                tqdm(total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024, desc=path.name,
                     disable=not progress) as bar:
            try:
                while chunk := response.read(CHUNK):
                    stream.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:
                raise DownloadError(f"download of {path.name} interrupted after {received} bytes ({exc}); "
                                    "run the same command again to resume") from None
            finally:
                stream.flush()
                os.fsync(stream.fileno())
    if total is not None and received < total:
        raise DownloadError(f"download of {path.name} interrupted after {received} of {total} bytes; "
                            "run the same command again to resume")
    return _finish(part, path, verify)


def _finish(part: Path, path: Path, verify: Callable[[Path], None]) -> Path:
    try:
        verify(part)
    except Exception as exc:  # a verifier raises whatever its parser raises
        part.unlink(missing_ok=True)
        detail = " ".join(str(exc).split())  # one line: tarfile's ReadError lists each method it tried on its own
        raise DownloadError(f"the downloaded {path.name} is not valid ({detail}); it was deleted, nothing was "
                            "written under its name") from None
    os.replace(part, path)
    return path
