"""Stage bookkeeping of a multi-step experiment, and what its stages share.

A stage's result is stored in ``<workdir>/stages/<name>.json`` when it finishes; a rerun skips finished
stages and starts an interrupted (or failed) one again, and the steps themselves resume their own work
(training from its last checkpoint, a latency dataset at its first missing row, a search at its last
generation).

A work folder can be kept in git, to continue a long experiment in another checkout on another machine (a later
sitting) or to regenerate its results pages there: its ``.gitignore`` (:data:`KEPT_OUT`) leaves out the large
files (checkpoints, binarised data, ONNX models), and a later run makes one again only when a stage that has not
finished needs it, checked against the fingerprint its stage stored (:meth:`Pipeline.output`). Training on a CPU
with the same seed, code and thread count computes the same weights bit for bit.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Optional, Sequence, TypeVar

from ..errors import ConfigError, StageError
from ..io import PathLike, write_text_atomic
from ..latency.measure import device_name
from ..locks import exclusive_output

T = TypeVar("T")

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""A stage's finish time as stored (UTC)."""

KEPT_OUT = """# written by hat: a work folder kept in git holds its stage results, settings, logs, latency datasets,
# predictors and search histories; these large files are left out and made again when a later run needs them
*.pt
!latency/*.pt
*.onnx
*.lock
.lock
*.tmp
/data/
"""
"""The ``.gitignore`` of a work folder."""


class PipelineStopped(Exception):
    """Raised after the stage named by ``stop_after`` finished (and was stored): the run ends there, on
    purpose, and a later run continues from the next stage."""

    def __init__(self, stage: str):
        super().__init__(f"stopped after stage {stage!r} as asked; rerun without --stop-after to continue")
        self.stage = stage


class StageMissing(StageError):
    """A stage asked for in a stored-only run (:class:`Pipeline` with ``stored_only``) has no stored result."""

    def __init__(self, workdir: Path, stage: str):
        super().__init__(f"{workdir}: stage {stage!r} has not finished; run the experiment's command to compute it")
        self.stage = stage


class Pipeline:
    """Runs named stages once: a stage's result is stored in ``<workdir>/stages/<name>.json``.

    Used as a context manager, it holds the work folder's lock (:mod:`hat.locks`) for the whole run: a
    second run on the same work folder is refused at once. ``stop_after`` names a stage after which the
    run stops (:class:`PipelineStopped`), to split a long experiment across sittings. With ``stored_only`` no
    stage runs: a stage without a stored result raises :class:`StageMissing` (regenerating results pages)."""

    def __init__(self, workdir: PathLike, stop_after: Optional[str] = None, stored_only: bool = False,
                 outputs: Sequence[PathLike] = ()):
        self.workdir = Path(workdir)
        self.outputs = [self.workdir, *map(Path, outputs)]
        """What the run writes (the work folder, the results pages): changes there are not the code's."""
        self.stages = self.workdir / "stages"
        self.stop_after = stop_after
        self.stored_only = stored_only
        self._lock: Optional[contextlib.AbstractContextManager] = None
        self.visited: list[str] = []
        """The stages this run went through (run or read back), in order."""

    def __enter__(self) -> "Pipeline":
        self._lock = exclusive_output(self.workdir, "work folder", is_dir=True)
        self._lock.__enter__()
        self.stages.mkdir(parents=True, exist_ok=True)
        if not self.stored_only and not (self.workdir / ".gitignore").exists():
            write_text_atomic(self.workdir / ".gitignore", KEPT_OUT)
        return self

    def __exit__(self, *exc_info) -> None:
        self._lock.__exit__(*exc_info)

    def marker(self, name: str) -> Path:
        """The file recording that stage ``name`` finished, with its result."""
        return self.stages / f"{name}.json"

    def stage(self, name: str, run: Callable[[], dict]) -> dict:
        """``run()``'s result plus ``stage_wall_s``, ``stage_finished`` and ``stage_commit`` (:func:`git_commit`
        outside the work folder), as stored (JSON types); the stored result if the stage finished before (``run``
        is not called). An exception leaves no marker."""
        marker = self.marker(name)
        self.visited.append(name)
        if marker.is_file():
            if not self.stored_only:
                print(f"=== {name}: done before, skipped ({marker})", flush=True)
            result = json.loads(marker.read_text())
        elif self.stored_only:
            raise StageMissing(self.workdir, name)
        else:
            result = self._run_stage(name, run, marker)
        if name == self.stop_after:
            raise PipelineStopped(name)
        return result

    def output(self, name: str, path: PathLike, run: Callable[[], dict]) -> Path:
        """``path``, a file that stage ``name`` (finished) wrote, made again by ``run`` (the stage's own work) when it
        is missing, as in a work folder kept in git (:data:`KEPT_OUT`); as it is in a stored-only run. The remade
        output must have the ``fingerprint`` the stage stored, else :class:`StageError` (and the mismatching file
        is removed): the code, the thread count or the machine changed, and the stages built on the stored output
        would not match it."""
        path = Path(path)
        if path.exists() or self.stored_only:
            return path
        stored = json.loads(self.marker(name).read_text())
        print(f"=== {name}: {path} is not here (a work folder kept without its large files): made again", flush=True)
        fingerprint = run().get("fingerprint")
        if "fingerprint" not in stored:
            print(f"| warning: stage {name!r} was stored without a fingerprint: {path} cannot be checked", flush=True)
        elif fingerprint != stored["fingerprint"]:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            raise StageError(f"{path}: made again by stage {name!r}, it differs from the stored one (fingerprint "
                             f"{str(fingerprint)[:12]} instead of {stored['fingerprint'][:12]}): the code, the thread "
                             f"count or the machine changed; remove {self.marker(name)} and the stages after it to "
                             f"compute them afresh")
        return path

    def _run_stage(self, name: str, run: Callable[[], dict], marker: Path) -> dict:
        print(f"=== {name}", flush=True)
        self.stages.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        result = {**run(), "stage_wall_s": round(time.perf_counter() - start, 1),
                  "stage_finished": datetime.datetime.now(datetime.timezone.utc).strftime(TIME_FORMAT),
                  "stage_commit": git_commit(outside=self.outputs), "stage_machine": device_name("cpu")}
        text = json.dumps(result, indent=2) + "\n"
        write_text_atomic(marker, text)
        print(f"=== {name}: done in {result['stage_wall_s']:.0f} s", flush=True)
        return json.loads(text)  # what a rerun reads back: the same values on every run

    def store_settings(self, experiment: str, settings: dict) -> None:
        """Keep the settings of a run of ``experiment`` (``<workdir>/settings/<experiment>.json``), from which its
        results are regenerated (:func:`stored_settings`)."""
        (self.workdir / "settings").mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.workdir / "settings" / f"{experiment}.json", json.dumps(settings, indent=2) + "\n")

    def provenance(self) -> dict:
        """Where the results of the stages visited so far come from: ``wall_s`` (their compute time, summed; a
        training stage's is at least its ``training_s``, a search's its ``search_s``), ``commits`` (of the code that ran them, "unknown" for
        stages stored without one), ``machines`` (the CPUs that ran them, as stored: a work folder continues on
        whatever machine a later sitting gets), ``machines_unrecorded`` (how many were stored without theirs) and
        ``finished`` (UTC date and time the last of them finished: as stored, the file's modification time for
        stages stored without it, which a git checkout does not keep)."""
        markers = [self.marker(name) for name in dict.fromkeys(self.visited)]
        results = [json.loads(marker.read_text()) for marker in markers]
        finished = [datetime.datetime.strptime(r["stage_finished"], TIME_FORMAT) if "stage_finished" in r else
                    datetime.datetime.fromtimestamp(m.stat().st_mtime, datetime.timezone.utc).replace(tzinfo=None)
                    for m, r in zip(markers, results)]
        # a training or search resumed across sittings: its stage wall counts the last sitting, its own time all of them
        return {"wall_s": round(sum(max(r.get("stage_wall_s", 0.0), r.get("training_s", 0.0), r.get("search_s", 0.0))
                                    for r in results), 1),
                "commits": sorted({r.get("stage_commit", "unknown") for r in results}),
                "machines": sorted({r["stage_machine"] for r in results if "stage_machine" in r}),
                "machines_unrecorded": sum("stage_machine" not in r for r in results),
                "finished": max(finished).strftime("%Y-%m-%d %H:%M UTC")}


def run_concurrently(calls: Sequence[Callable[[], T]], jobs: int) -> list[T]:
    """The results of ``calls``, run ``jobs`` at a time in their order (threads: each is expected to wait on a
    subprocess, as a training stage does). After an error no further call starts; the first error is raised once
    the calls already running have ended."""
    if jobs <= 1:
        return [call() for call in calls]
    failed = threading.Event()

    def guarded(call: Callable[[], T]) -> Callable[[], Optional[T]]:
        def run() -> Optional[T]:
            if failed.is_set():
                return None  # never read: an earlier call's error is raised first
            try:
                return call()
            except BaseException:
                failed.set()
                raise
        return run

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(guarded(call)) for call in calls]
        return [future.result() for future in futures]


def git_commit(folder: PathLike = ".", outside: Sequence[PathLike] = ()) -> str:
    """The short commit of the code in the git checkout ``folder`` is in (the current directory by default): the
    last commit that changed anything outside the folders ``outside`` (what a run writes: its work folder,
    committed as the run goes on, and the results pages), ``+dirty`` when tracked files outside them have
    uncommitted changes; ``unknown`` outside a checkout or without git."""
    def git(*args: str) -> Optional[str]:
        try:
            proc = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True)
        except OSError:
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if not top:
        return "unknown"
    paths = [":(top)"]
    root = Path(top).resolve()
    paths += [f":(top,exclude){Path(path).resolve().relative_to(root).as_posix()}" for path in outside
              if Path(path).resolve().is_relative_to(root)]
    commit = git("log", "-1", "--format=%h", "--", *paths)
    if not commit:
        return "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", *paths)
    return commit + ("+dirty" if dirty else "")


def stored_settings(workdir: PathLike) -> dict[str, dict]:
    """``{experiment: settings}`` of every experiment run in ``workdir`` (:meth:`Pipeline.store_settings`)."""
    return {path.stem: json.loads(path.read_text()) for path in sorted((Path(workdir) / "settings").glob("*.json"))}


def languages(data: PathLike, source: Optional[str], target: Optional[str]) -> tuple[str, str]:
    """The language pair of a binarised corpus: as given, else from its ``train.<src>-<tgt>.<lang>.idx`` files."""
    if source and target:
        return source, target
    pairs = {p.name.split(".")[1] for p in Path(data).glob("train.*-*.*.idx")}
    if len(pairs) != 1:
        raise ConfigError(f"{data}: give --source-lang and --target-lang (language pairs found: {sorted(pairs)})")
    src, tgt = pairs.pop().split("-")
    return src, tgt


def latency_constraints(latency_csv: PathLike, predictor_path: PathLike, quantiles: Sequence[float]) -> list[float]:
    """Latency constraints (ms, 2 decimals, distinct, ascending): quantiles of the *predicted* latencies of the
    measured SubTransformers, so every constraint is feasible by the predictor that the search uses."""
    import numpy as np

    from ..latency.dataset import read_latency_csv
    from ..latency.predictor import load_predictor

    predicted = load_predictor(predictor_path).predict_features(read_latency_csv(latency_csv).features)
    return sorted({round(float(q), 2) for q in np.quantile(predicted, quantiles)})


def validation_curves(log_file: PathLike) -> dict:
    """``{name: [loss per validation]}`` of a training log written with ``--log-file`` (``loss``,
    ``largest_loss``, ``smallest_loss``...: the representative SubTransformers of a SuperTransformer run).

    One value per update count: repeated lines (a resumed run, or fairseq's duplicated log-file handler in
    logs written before hat fixed it) count once."""
    log_file = Path(log_file)
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
