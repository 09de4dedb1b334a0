"""Checkpoint reading and writing: the one place that decides how checkpoints are unpickled.

fairseq checkpoints (the original HAT's fairseq-0.8 files and modern ones) pickle an
``argparse.Namespace``, OmegaConf configs and, in old files, ``fairseq.meters`` objects. PyTorch >= 2.6
loads with ``weights_only=True`` by default, which rejects all of these. HAT checkpoints are
therefore loaded with ``weights_only=False`` -- explicitly, here, for this project's loaders and
(by :func:`install_fairseq_compat`) for fairseq's own ``checkpoint_utils``. A pickle can run code:
load only checkpoints you trust (your own, or the released HAT models).
"""
import hashlib
import os
import shutil
import sys
import types
from argparse import Namespace
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import torch

from .io import PathLike, atomic_write
from .errors import CheckpointError


def _alias_legacy_fairseq_modules() -> None:
    """Old checkpoints pickle ``fairseq.meters.*``; modern fairseq has them in ``fairseq.logging.meters``."""
    if "fairseq.meters" not in sys.modules:
        from fairseq.logging import meters
        sys.modules["fairseq.meters"] = meters


def load_trusted(path: PathLike) -> Dict[str, Any]:
    """Load a trusted checkpoint file to CPU (``weights_only=False``), with clear errors.

    The one check of every command that reads a checkpoint (``train.py --restore-file``, ``generate.py --path``,
    ``test.sh``, the export, :func:`hat.loading.load_supertransformer`): a missing, truncated or foreign file is a
    one-line :class:`CheckpointError`, the same everywhere."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    _alias_legacy_fairseq_modules()
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        reason = " ".join(f"{type(exc).__name__}: {exc}".split()).split(". ")[0]  # one line, its first sentence
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({reason})") from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), Mapping):
        raise CheckpointError(f"{path} is not a fairseq checkpoint (no 'model' entry)")
    return state


def weights_fingerprint(path: PathLike) -> str:
    """SHA-256 of a checkpoint's model weights (each tensor's name, dtype, shape and bytes, in name order): equal
    for two trainings that computed the same weights, whatever else their files hold (times, paths, optimizer)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(load_trusted(path)["model"].items()):
        if name.endswith("._float_tensor"):  # fairseq's sinusoidal positions keep an uninitialised 1-value buffer
            continue
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class _TrustedTorch(types.ModuleType):
    """``torch`` as seen by ``fairseq.checkpoint_utils``: ``load`` defaults to ``weights_only=False``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    @staticmethod
    def load(f, *args, **kwargs):
        kwargs.setdefault("weights_only", False)
        return torch.load(f, *args, **kwargs)


def _atomic_path_manager():
    """fairseq's ``PathManager`` whose ``copy`` (used for ``checkpoint_last.pt``/``checkpoint_best.pt``)
    writes a temporary file and renames it, so a killed run never leaves a half-copied checkpoint."""
    from fairseq.file_io import PathManager

    class AtomicCopyPathManager(PathManager):
        @staticmethod
        def copy(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
            if not PathManager.supports_rename(dst_path):
                return PathManager.copy(src_path, dst_path, overwrite=overwrite)
            tmp = f"{dst_path}.tmp"
            shutil.copyfile(src_path, tmp)
            os.replace(tmp, dst_path)
            return True

    return AtomicCopyPathManager


def install_fairseq_compat() -> None:
    """Make fairseq's ``checkpoint_utils`` read fairseq pickles (trainer restore, ``fairseq-generate``)
    under PyTorch >= 2.6 and copy checkpoints atomically."""
    from fairseq import checkpoint_utils
    _alias_legacy_fairseq_modules()
    if not isinstance(checkpoint_utils.torch, _TrustedTorch):
        checkpoint_utils.torch = _TrustedTorch("torch")
        checkpoint_utils.PathManager = _atomic_path_manager()


def save_atomic(obj: Any, path: PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: never a half-written file."""
    atomic_write(path, lambda stream: torch.save(obj, stream), binary=True)


def checkpoint_args(state: Dict[str, Any], path: PathLike = "checkpoint") -> Namespace:
    """The model arguments of a checkpoint: fairseq-0.8 ``args`` or a modern ``cfg.model``."""
    args = state.get("args")
    if args is None and state.get("cfg") is not None:
        args = state["cfg"]["model"]
    if isinstance(args, Namespace):
        return Namespace(**vars(args))
    if args is not None:  # an OmegaConf node holding a Namespace-like model config
        return Namespace(**{k: args[k] for k in args})
    raise CheckpointError(f"{path} has no model arguments ('args' or 'cfg.model')")


def save_model_checkpoint(model: torch.nn.Module, args: Namespace, path: PathLike,
                          extra_state: Optional[Dict[str, Any]] = None) -> None:
    """Write a fairseq-0.8-style checkpoint (``args``, ``model``, ...) that fairseq and HAT both load."""
    state = {
        "args": args,
        "model": model.state_dict(),
        "optimizer_history": [{"criterion_name": "LabelSmoothedCrossEntropyCriterion", "optimizer_name": "none",
                               "lr_scheduler_state": {"best": None}, "num_updates": 0}],
        "extra_state": extra_state or {},
    }
    save_atomic(state, path)
