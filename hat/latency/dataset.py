"""Latency datasets in the original's CSV format (reference 5.3).

Header: the 10 predictor features, then ``latency_mean_encoder, latency_mean_decoder,
latency_std_encoder, latency_std_decoder`` (ms). Values are Python ``str()`` of the numbers. Rows are
appended and flushed one at a time; a file cut inside a row (a killed run) is repaired on resume by
dropping the partial last line, so a file never holds a half row once reopened.
"""
import math
import os
from pathlib import Path
from typing import List, NamedTuple, Sequence, Union

import numpy as np

from ..search_space import FEATURE_NAMES
from ..errors import LatencyDataError

LATENCY_COLUMNS = ("latency_mean_encoder", "latency_mean_decoder", "latency_std_encoder", "latency_std_decoder")
CSV_COLUMNS = tuple(FEATURE_NAMES) + LATENCY_COLUMNS
CSV_HEADER = ",".join(CSV_COLUMNS)

PathLike = Union[str, os.PathLike]



class LatencyData(NamedTuple):
    features: np.ndarray  # [N, 10] float64
    latency: np.ndarray  # [N] total latency (encoder mean + decoder mean), ms
    table: np.ndarray  # [N, 14] every column


def format_row(features: Sequence[float], latency_mean_encoder: float, latency_mean_decoder: float,
               latency_std_encoder: float, latency_std_decoder: float) -> str:
    """One CSV line (without newline), numbers written as the original (``str`` of int/float)."""
    if len(features) != len(FEATURE_NAMES):
        raise LatencyDataError(f"expected {len(FEATURE_NAMES)} features, got {len(features)}")
    values = [int(v) if float(v).is_integer() and i in (0, 1, 4, 5) else float(v) for i, v in enumerate(features)]
    values += [float(latency_mean_encoder), float(latency_mean_decoder), float(latency_std_encoder),
               float(latency_std_decoder)]
    return ",".join(str(v) for v in values)


def read_latency_csv(path: PathLike) -> LatencyData:
    """Read and validate a latency dataset; every problem is a :class:`LatencyDataError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise LatencyDataError(f"latency dataset not found: {path}")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        raise LatencyDataError(f"{path} is empty (expected the header {CSV_HEADER})")
    header = [c.strip() for c in lines[0].split(",")]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise LatencyDataError(f"{path}: missing column(s) {', '.join(missing)}")
    index = [header.index(c) for c in CSV_COLUMNS]
    rows: List[List[float]] = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        if len(cells) != len(header):
            raise LatencyDataError(f"{path}, line {number}: {len(cells)} values, expected {len(header)}")
        try:
            row = [float(cells[i]) for i in index]
        except ValueError:
            raise LatencyDataError(f"{path}, line {number}: not a number in {line!r}") from None
        bad = [CSV_COLUMNS[j] for j, v in enumerate(row) if not math.isfinite(v)]
        if bad:
            raise LatencyDataError(f"{path}, line {number}: {bad[0]} is not a finite number")
        rows.append(row)
    if not rows:
        raise LatencyDataError(f"{path} has a header but no rows")
    table = np.asarray(rows, dtype=np.float64)
    return LatencyData(features=table[:, :len(FEATURE_NAMES)], latency=table[:, 10] + table[:, 11], table=table)


def open_for_append(path: PathLike) -> int:
    """Prepare ``path`` for appending rows and return how many complete rows it already holds.

    Creates the file with its header if absent; drops a partial last line left by a killed run;
    rejects a file with another header.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.stat().st_size == 0:
        with open(path, "w") as f:
            f.write(CSV_HEADER + "\n")
        return 0
    text = path.read_text()
    if text.split("\n", 1)[0].strip() != CSV_HEADER:
        raise LatencyDataError(f"{path} exists with another header; refusing to append to it")
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        with open(path, "r+") as f:
            f.truncate(len(text.encode()))
    return len([line for line in text.splitlines()[1:] if line.strip()])


def append_row(path: PathLike, line: str) -> None:
    """Append one formatted row and flush it to disk."""
    with open(path, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
