"""Latency datasets in the CSV format of the original's ``latency_dataset.py`` (its released ``*_all.csv``).

Header: the 10 predictor features, then ``latency_mean_encoder, latency_mean_decoder,
latency_std_encoder, latency_std_decoder`` (ms). Values are Python ``str()`` of the numbers. Rows are
appended and flushed one at a time; a file cut inside a row (a killed run) is repaired on resume by
dropping the partial last line, so a file never holds a half row once reopened.
"""
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from ..io import PathLike, read_json_record
from ..search_space import FEATURE_NAMES
from ..errors import USER_IO_ERRNOS, LatencyDataError, output_error

LATENCY_COLUMNS = ("latency_mean_encoder", "latency_mean_decoder", "latency_std_encoder", "latency_std_decoder")
CSV_COLUMNS = tuple(FEATURE_NAMES) + LATENCY_COLUMNS
CSV_HEADER = ",".join(CSV_COLUMNS)
INTEGER_FEATURES = ("encoder_embed_dim", "encoder_layer_num", "decoder_embed_dim", "decoder_layer_num")
"""Features written as ``int`` when whole (the others, per-layer averages, are always floats)."""

class LatencyData(NamedTuple):
    features: np.ndarray  # [N, 10] float64
    latency: np.ndarray  # [N] total latency (encoder mean + decoder mean), ms


def format_row(features: Sequence[float], latency_mean_encoder: float, latency_mean_decoder: float,
               latency_std_encoder: float, latency_std_decoder: float) -> str:
    """One CSV line (without newline), numbers written as the original (``str`` of int/float)."""
    if len(features) != len(FEATURE_NAMES):
        raise LatencyDataError(f"expected {len(FEATURE_NAMES)} features, got {len(features)}")
    values = [int(v) if float(v).is_integer() and name in INTEGER_FEATURES else float(v)
              for name, v in zip(FEATURE_NAMES, features)]
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
    table = np.asarray(rows, dtype=np.float64)  # CSV_COLUMNS order: the features, then LATENCY_COLUMNS
    encoder, decoder = (table[:, CSV_COLUMNS.index(name)] for name in ("latency_mean_encoder", "latency_mean_decoder"))
    return LatencyData(features=table[:, :len(FEATURE_NAMES)], latency=encoder + decoder)


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
    """Append one formatted row and flush it to disk. A row that cannot be written whole (full disk,
    file-size limit) is cut off again, and the error is an :class:`OutputError`: the file keeps whole rows."""
    data = (line + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, size)
            if exc.errno in USER_IO_ERRNOS:
                raise output_error(path, exc) from None
            raise
    finally:
        os.close(fd)


def settings_path(csv_path: PathLike) -> Path:
    """The sidecar JSON of a latency CSV, ``<csv>.json``: the settings its rows were measured with."""
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.name + ".json")


def read_settings_file(csv_path: PathLike) -> Optional[Dict[str, Any]]:
    """Everything recorded beside a latency CSV (``<csv>.json``), if there is such a file."""
    return read_json_record(settings_path(csv_path), LatencyDataError, "latency dataset settings file")


def read_recorded_settings(csv_path: PathLike) -> Optional[Dict[str, Any]]:
    """The measurement settings recorded beside a latency CSV (without its search space), if any."""
    recorded = read_settings_file(csv_path)
    return None if recorded is None else {key: value for key, value in recorded.items() if key != "search_space"}


def probe_path(csv_path: PathLike) -> Path:
    """The side file of a latency CSV with each row's calibration-probe record: ``<csv>.probe.jsonl``."""
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.name + ".probe.jsonl")


def flagged_rows(csv_path: PathLike) -> List[int]:
    """The rows (0-based) that the calibration probe flagged: measured while the machine stayed busy (none when
    the CSV has no probe record)."""
    path = probe_path(csv_path)
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            record = json.loads(line)
            if record["flagged"]:
                rows.append(int(record["row"]))
        except (ValueError, KeyError, TypeError):
            raise LatencyDataError(f"{path}:{number} is not a probe record") from None
    return rows
