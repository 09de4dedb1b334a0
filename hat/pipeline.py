"""Multi-stage experiments (the demo, the reproduction): stages that run the project's scripts once each.

A stage's result is stored in ``<workdir>/stages/<name>.json`` when it finishes; a rerun skips finished
stages and starts an interrupted one again (the scripts themselves resume their own work).
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .io import write_text_atomic
from .errors import StageError

ROOT = Path(__file__).resolve().parents[1]



class Pipeline:
    """Runs named stages once: a stage's result is stored in ``<workdir>/stages/<name>.json``."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.stages = workdir / "stages"
        self.stages.mkdir(parents=True, exist_ok=True)

    def stage(self, name: str, run: Callable[[], dict]) -> dict:
        marker = self.stages / f"{name}.json"
        if marker.is_file():
            print(f"=== {name}: done before, skipped ({marker})", flush=True)
            return json.loads(marker.read_text())
        print(f"=== {name}", flush=True)
        start = time.perf_counter()
        result = {**run(), "stage_wall_s": round(time.perf_counter() - start, 1)}
        write_text_atomic(marker, json.dumps(result, indent=2) + "\n")
        print(f"=== {name}: done in {result['stage_wall_s']:.0f} s", flush=True)
        return result


def call(script: str, *args: Any, capture_json: bool = False) -> Optional[dict]:
    """Run one of the project's scripts with this Python; print the command; fail with its exit code."""
    cmd = [sys.executable, str(ROOT / script), *map(str, args)]
    print("$ python " + " ".join(shlex.quote(str(c)) for c in (script, *args)), flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE if capture_json else None, text=True)
    if proc.returncode != 0:
        raise StageError(f"{script} failed with exit code {proc.returncode} (command above); rerun the same "
                           "command to continue from this stage")
    return json.loads(proc.stdout.strip().splitlines()[-1]) if capture_json else None


def languages(data: Path, source: Optional[str], target: Optional[str]) -> tuple[str, str]:
    """The language pair of a binarised corpus: as given, else from its ``train.<src>-<tgt>.<lang>.idx`` files."""
    if source and target:
        return source, target
    pairs = {p.name.split(".")[1] for p in data.glob("train.*-*.*.idx")}
    if len(pairs) != 1:
        raise ValueError(f"{data}: give --source-lang and --target-lang (language pairs found: {sorted(pairs)})")
    src, tgt = pairs.pop().split("-")
    return src, tgt


def latency_constraints(latency_csv: Path, predictor_path: Path, quantiles: Sequence[float]) -> list[float]:
    """Latency constraints (ms, 2 decimals, distinct, ascending): quantiles of the *predicted* latencies of the
    measured SubTransformers, so every constraint is feasible by the predictor that the search uses."""
    import numpy as np

    from .latency.dataset import read_latency_csv
    from .latency.predictor import load_predictor

    predicted = load_predictor(predictor_path).predict_features(read_latency_csv(latency_csv).features)
    return sorted({round(float(q), 2) for q in np.quantile(predicted, quantiles)})


def validation_curves(log_file: Path) -> dict:
    """``{name: [loss per validation]}`` of a training log written with ``--log-file`` (``loss``,
    ``largest_loss``, ``smallest_loss``...: the representative SubTransformers of a SuperTransformer run).

    One value per update count: repeated lines (a resumed run, or fairseq's duplicated log-file handler in
    logs written before hat fixed it) count once."""
    by_update: dict = {}
    lines = log_file.read_text().splitlines() if log_file.is_file() else []
    for line in (line for line in lines if "valid on 'valid' subset" in line):
        fields = dict(field.rpartition(" ")[::2] for field in line.split(" | ")[1:])
        by_update[fields.get("num_updates", len(by_update))] = fields
    curves: dict = {}
    for fields in by_update.values():
        for name, value in fields.items():
            if name.endswith("loss") and name != "best_loss":
                curves.setdefault(name, []).append(float(value))
    return curves


def test_subtransformer(data: Path, checkpoint: Path, yml: Path, common: Path) -> dict:
    """BLEU and SacreBLEU on the test split (one generation by ``scripts/test_bleu.py``, scored both ways) and
    #params / FLOPs of the SubTransformer ``yml`` trained into ``checkpoint``."""
    from .evaluation.bleu import paper_bleu, read_generation
    from .profiling import profile_subtransformer
    from .training import parse_train_args

    bleu = call("scripts/test_bleu.py", checkpoint, yml, "normal", "--data", data, "--json", capture_json=True)
    hypotheses, references = read_generation(bleu["output"])
    counted = profile_subtransformer(parse_train_args([str(data), f"--configs={yml}", f"--sub-configs={common}"]))
    return {"bleu": bleu["score"], "sacrebleu": paper_bleu(hypotheses, references, "sacre").score,
            "params": counted["params"], "flops": counted["flops"]}
