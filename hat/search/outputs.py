"""Files of a search: the SubTransformer YAMLs, and the search folder (state, history, plot, summary).

The search folder (default: ``<save-dir>/evo_search/<write-config-path stem>/``, where the save dir is
the original's ``checkpoints/<--configs path>``) holds

* ``state.json``: the settings and the whole search state after the last finished generation, with the search's
  compute time so far (``elapsed_s``); a rerun of the same command resumes from it (with other settings it
  refuses, naming what changed);
* ``history.jsonl``: one JSON object per loss evaluation (gene, config, loss, predicted latency,
  #params / FLOPs when limited, generation, constraint), then one per candidate verified on the device
  (``"verified": true``, predicted and measured latency);
* ``search.png``: validation loss vs predicted latency of every evaluated candidate;
* ``summary.json``: the chosen SubTransformer of every constraint, the evaluation counts and the compute time
  (``wall_s`` this run's, ``search_s`` the whole search's, the runs it resumed included).

Every file is written atomically, so a killed search leaves the last consistent version.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from ..io import check_recorded_settings, write_text_atomic
from ..search_space import ConfigError, SearchSpace
from .evolution import Constraints, Evaluation

STATE, HISTORY, PLOT, SUMMARY = "state.json", "history.jsonl", "search.png", "summary.json"


def output_yaml_path(write_config_path: str | Path, constraints: Constraints, several: bool) -> Path:
    """``write-config-path`` itself for a single constraint; with several constraints one file per constraint,
    ``<stem>@<latency>ms<suffix>`` (e.g. ``cpu@60ms.yml``)."""
    path = Path(write_config_path)
    return path.with_name(f"{path.stem}@{constraints.latency_ms:g}ms{path.suffix or '.yml'}") if several else path


def default_search_dir(save_dir: str | Path, write_config_path: str | Path) -> Path:
    """``<save_dir>/evo_search/<write-config-path stem>``."""
    return Path(save_dir) / "evo_search" / Path(write_config_path).stem


def read_state(search_dir: Path, settings: Mapping[str, Any]) -> Optional[dict[str, Any]]:
    """The saved search state of ``search_dir`` if there is one for these ``settings``; refuses another's."""
    path = search_dir / STATE
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
        recorded = saved["settings"]
        state = saved["search"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a search state file ({exc}); remove it to start afresh") from None
    check_recorded_settings(recorded, settings, lambda changes: (
        f"{search_dir} holds a search with other settings ({changes}); rerun with those settings to resume it, "
        "or give another --search-dir"))
    return state


def write_state(search_dir: Path, settings: Mapping[str, Any], state: Mapping[str, Any],
                history: Sequence[Evaluation], space: SearchSpace) -> None:
    """Save the search state, then the history it contains."""
    write_text_atomic(search_dir / STATE, json.dumps({"settings": settings, "search": state}) + "\n")
    write_history(search_dir, history, space)


def write_history(search_dir: Path, history: Sequence[Evaluation], space: SearchSpace,
                  verified: Sequence[Mapping[str, Any]] = ()) -> None:
    """``history.jsonl``: every loss evaluation, then the rows of the candidates verified on the device
    (``"verified": true``, with predicted and measured latency)."""
    write_text_atomic(search_dir / HISTORY, "".join(
        json.dumps({**asdict(e), "config": space.gene_to_config(e.gene)}) + "\n" for e in history)
        + "".join(json.dumps(row) + "\n" for row in verified))


def write_summary(search_dir: Path, summary: Mapping[str, Any]) -> None:
    write_text_atomic(search_dir / SUMMARY, json.dumps(summary, indent=2) + "\n")
