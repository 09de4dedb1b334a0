"""Latency predictors: the original HAT MLP (``hat-mlp``) and the default ``ridge`` model.

Both map the 10 config features (:func:`hat.search_space.config_features`) to a latency in ms.

``hat-mlp`` is the original's ``latency_predictor.py`` exactly: features / feature-norm,
``first_layer`` Linear(10->400)+ReLU, 3 x [Linear(400,400)+ReLU] ``layers.0..2``, ``predict``
Linear(400->1), times lat-norm (trained as the original: :func:`hat.latency.fitting.train_hat_mlp`). It
saves, and loads, the original's plain state dict (the released ``predictors/*.pt``).

``ridge`` (the default) is a ridge regression on physically motivated terms. A layer's latency is
roughly linear in its work: an encoder layer costs ~E_e^2 (projections) + E_e*F_e (FFN) plus a
per-head overhead, a decoder layer the same in E_d / F_d plus encoder-decoder attention over A
encoder layers. Per-layer averages times the layer count are exact per-layer sums, so the terms are
``N_e, N_e*E_e^2, N_e*E_e*F_e, N_e*H_e, N_d, N_d*E_d^2, N_d*E_d*F_d, N_d*H_d, N_d*H_x, N_d*A, E_d,
E_e`` (E embed dim, N layers, F average FFN dim, H average heads, A average attended encoder layers;
E_d also covers the output projection). Terms are standardised on the training rows; the ridge
penalty is picked on the validation split from a fixed grid (:func:`hat.latency.fitting.train_ridge`),
so training is deterministic, takes milliseconds, and needs no feature-norm / lat-norm.

Why: on the four released datasets (``benchmarks/README.md``, split seeds 1-3) its mean test RMSE
is 2-3% below hat-mlp's on every dataset, and trained on 400 rows it is still below hat-mlp trained
on all 1600. Richer fits (23 work terms, the full quadratic of the features, 218 layer-count x
quadratic terms, log latency) were measured and were no better: the remaining error is not a
function of the config -- the released measurements drift with the row (measurement time) order by
up to ~20% -- so this small model already sits at that noise floor and is the most data-efficient.

This module holds the models and their files; fitting them (splits, metrics, training loops, the
``latency_predictor.py`` tool) is :mod:`hat.latency.fitting`.
"""
from __future__ import annotations

import json
import math
import pickle
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from ..checkpoint import save_atomic
from ..errors import PredictorError
from ..io import read_json_record, write_text_atomic
from ..search_space import FEATURE_NAMES, config_features

ORIGINAL_FEATURE_NORM = (640.0, 6.0, 2048.0, 6.0, 640.0, 6.0, 2048.0, 6.0, 6.0, 2.0)
"""The original's ``feature-norm`` (the same for every task and hardware)."""

RELEASED_LAT_NORMS = {
    f"{task}_{hardware}_all.csv": norm
    for task in ("wmt14ende", "wmt14enfr")
    for hardware, norm in (("cpu_raspberrypi", 5000.0), ("cpu_xeon", 300.0), ("gpu_titanxp", 200.0))
}
RELEASED_LAT_NORMS.update({"wmt19ende_gpu_titanxp_all.csv": 200.0, "iwslt14deen_gpu_titanxp_all.csv": 200.0})
"""The original's ``lat-norm`` of each released latency dataset, by file name (the ``lat-norm`` of its
``configs/<task>/latency_predictor/<hardware>.yml``)."""

MODELS = ("ridge", "hat-mlp")
"""Predictor kinds; the first is the default."""

RIDGE_TERMS = ("N_e", "N_e*E_e^2", "N_e*E_e*F_e", "N_e*H_e", "N_d", "N_d*E_d^2", "N_d*E_d*F_d",
               "N_d*H_d", "N_d*H_x", "N_d*A", "E_d", "E_e")


def check_features(features: Any) -> np.ndarray:
    """``features`` as a float64 array [N, 10] of finite numbers, else :class:`PredictorError`."""
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != len(FEATURE_NAMES):
        raise PredictorError(f"expected features of shape [N, {len(FEATURE_NAMES)}], got {list(array.shape)}")
    if not np.isfinite(array).all():
        raise PredictorError("features contain NaN or infinite values")
    return array


def check_feature_norm(feature_norm: Sequence[float]) -> np.ndarray:
    """``feature_norm`` as 10 positive floats, else :class:`PredictorError`."""
    norm = np.asarray(feature_norm, dtype=np.float64)
    if norm.shape != (len(FEATURE_NAMES),):
        raise PredictorError(f"feature-norm has {norm.size} values, expected {len(FEATURE_NAMES)}")
    if not (np.isfinite(norm).all() and (norm > 0).all()):
        raise PredictorError(f"feature-norm values must be positive, got {norm.tolist()}")
    return norm


class LatencyPredictor(ABC):
    """Predicts latency (ms) of SubTransformer configs, vectorised over many configs per call.

    ``measured_with``: the settings of the latency dataset it was trained on (device and its name,
    threads, latiter, vocabulary size...: the dataset's ``<csv>.json``), when known; the search uses them to
    verify its result on the same device with the same procedure."""

    kind: str
    measured_with: Optional[dict[str, Any]] = None

    def predict(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Latency (ms) of each config, as a float64 array."""
        return self.predict_features(np.array([config_features(c) for c in configs]).reshape(-1, len(FEATURE_NAMES)))

    def predict_features(self, features: Any) -> np.ndarray:
        """Latency (ms) of each row of a feature array [N, 10] (:data:`FEATURE_NAMES` order)."""
        return self._predict(check_features(features))

    def save(self, path: str | Path) -> None:
        """Write the predictor to ``path`` atomically (:func:`load_predictor` reads it back)."""
        save_atomic(self.state_dict(), path)

    @abstractmethod
    def _predict(self, features: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def state_dict(self) -> dict[str, Any]: ...


class HatMLP(torch.nn.Module):
    """The original predictor network, with the original's parameter names."""

    def __init__(self, feature_dim: int = len(FEATURE_NAMES), hidden_dim: int = 400, hidden_layer_num: int = 3):
        super().__init__()
        self.first_layer = torch.nn.Linear(feature_dim, hidden_dim)
        self.layers = torch.nn.ModuleList(torch.nn.Linear(hidden_dim, hidden_dim) for _ in range(hidden_layer_num))
        self.predict = torch.nn.Linear(hidden_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.first_layer(x))
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.predict(x)


class HatMLPPredictor(LatencyPredictor):
    """The original MLP: ``MLP(features / feature_norm) * lat_norm`` in float32, as the original."""

    kind = "hat-mlp"

    def __init__(self, net: HatMLP, feature_norm: Sequence[float], lat_norm: float):
        self.net = net.eval()
        self.feature_norm = check_feature_norm(feature_norm)
        if not (math.isfinite(lat_norm) and lat_norm > 0):
            raise PredictorError(f"lat-norm must be a positive number, got {lat_norm}")
        self.lat_norm = float(lat_norm)

    def normalise(self, features: np.ndarray) -> torch.Tensor:
        return torch.tensor(features / self.feature_norm, dtype=torch.float32)

    def _predict(self, features: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.net(self.normalise(features))[:, 0].double().numpy() * self.lat_norm

    def state_dict(self) -> dict[str, Any]:
        """The original's format: the network's plain state dict (norms are not stored)."""
        return self.net.state_dict()

    def save(self, path: str | Path) -> None:
        """The original's file, plus the norms in a sidecar ``<path>.json`` that :func:`load_predictor` checks."""
        super().save(path)
        write_text_atomic(norms_path(path), json.dumps(
            {"kind": self.kind, "feature_norm": self.feature_norm.tolist(), "lat_norm": self.lat_norm,
             "measured_with": self.measured_with}) + "\n")

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor], feature_norm: Sequence[float],
                        lat_norm: float) -> HatMLPPredictor:
        """Rebuild from an original state dict; the sizes are read from the weights."""
        weight = state["first_layer.weight"]
        if weight.ndim != 2 or weight.shape[1] != len(FEATURE_NAMES):
            raise PredictorError(f"the predictor takes {weight.shape[-1]} features, expected {len(FEATURE_NAMES)}")
        layers = sum(1 for key in state if key.startswith("layers.") and key.endswith(".weight"))
        net = HatMLP(weight.shape[1], weight.shape[0], layers)
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise PredictorError(f"not an original HAT predictor state dict: {exc}") from None
        return cls(net, feature_norm, lat_norm)


def ridge_terms(features: np.ndarray) -> np.ndarray:
    """The :data:`RIDGE_TERMS` of each feature row, [N, 12]."""
    e_e, n_e, f_e, h_e, e_d, n_d, f_d, h_d, h_x, a = features.T
    return np.stack([n_e, n_e * e_e * e_e, n_e * e_e * f_e, n_e * h_e, n_d, n_d * e_d * e_d, n_d * e_d * f_d,
                     n_d * h_d, n_d * h_x, n_d * a, e_d, e_e], axis=1)


class RidgePredictor(LatencyPredictor):
    """``standardise(ridge_terms(features)) @ weights + bias`` (ms)."""

    kind = "ridge"

    def __init__(self, mean: np.ndarray, scale: np.ndarray, weights: np.ndarray, bias: float):
        self.mean, self.scale, self.weights, self.bias = mean, scale, weights, float(bias)

    def _predict(self, features: np.ndarray) -> np.ndarray:
        return (ridge_terms(features) - self.mean) / self.scale @ self.weights + self.bias

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "terms": list(RIDGE_TERMS), "feature_names": list(FEATURE_NAMES),
                "mean": torch.from_numpy(self.mean), "scale": torch.from_numpy(self.scale),
                "weights": torch.from_numpy(self.weights), "bias": self.bias, "measured_with": self.measured_with}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> RidgePredictor:
        if list(state.get("terms", ())) != list(RIDGE_TERMS):
            raise PredictorError(f"ridge predictor terms {state.get('terms')} differ from {list(RIDGE_TERMS)}")
        if list(state.get("feature_names", ())) != list(FEATURE_NAMES):
            raise PredictorError(f"the predictor takes features {state.get('feature_names')}, expected {list(FEATURE_NAMES)}")
        missing = [key for key in ("mean", "scale", "weights", "bias") if key not in state]
        if missing:
            raise PredictorError(f"ridge predictor lacks {', '.join(missing)}")
        arrays = [state[key].double().numpy() for key in ("mean", "scale", "weights")]
        predictor = cls(*arrays, state["bias"])
        predictor.measured_with = state.get("measured_with")
        return predictor


def load_predictor(path: str | Path, feature_norm: Optional[Sequence[float]] = None,
                   lat_norm: Optional[float] = None) -> LatencyPredictor:
    """Load a predictor file written by :meth:`LatencyPredictor.save` or by the original HAT.

    An original (``hat-mlp``) file is a plain state dict without its norms: ``feature_norm`` and
    ``lat_norm`` (the config's ``feature-norm`` / ``lat-norm``) are then required. Loaded with
    ``weights_only=True``.
    """
    path = Path(path)
    if not path.is_file():
        raise PredictorError(f"latency predictor not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's message advises weights_only=False: wrong here, a predictor never needs it
        raise PredictorError(f"{path} is not a latency predictor: it holds pickled objects that predictor files "
                             "never contain (a model checkpoint?)") from None
    except Exception as exc:  # torch raises many types for truncated or foreign files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PredictorError(f"{path} is not a readable latency predictor ({reason})") from None
    if isinstance(state, Mapping) and state.get("kind") == RidgePredictor.kind:
        return RidgePredictor.from_state_dict(state)
    if isinstance(state, Mapping) and "first_layer.weight" in state:
        feature_norm, lat_norm = _checked_norms(path, feature_norm, lat_norm)
        if feature_norm is None or lat_norm is None:
            raise PredictorError(f"{path} is an original HAT predictor (plain state dict): "
                                 "give its feature-norm and lat-norm")
        predictor = HatMLPPredictor.from_state_dict(state, feature_norm, lat_norm)
        predictor.measured_with = _recorded_norms(path).get("measured_with")
        return predictor
    raise PredictorError(f"{path} is not a latency predictor (neither an original HAT state dict nor a 'kind' dict)")


def norms_path(path: str | Path) -> Path:
    """The sidecar of a ``hat-mlp`` predictor file, recording its feature-norm and lat-norm."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def _checked_norms(path: Path, feature_norm: Optional[Sequence[float]],
                   lat_norm: Optional[float]) -> tuple[Optional[Sequence[float]], Optional[float]]:
    """The norms to use with the ``hat-mlp`` file ``path``: the given ones, which must equal those recorded
    next to it when it was trained (if recorded), else the recorded ones."""
    sidecar = norms_path(path)
    if not sidecar.is_file():
        return feature_norm, lat_norm
    recorded = _recorded_norms(path)
    try:
        recorded_features, recorded_lat = [float(v) for v in recorded["feature_norm"]], float(recorded["lat_norm"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PredictorError(f"{sidecar} is not a valid predictor norms file ({exc})") from None
    if feature_norm is not None and [float(v) for v in feature_norm] != recorded_features:
        raise PredictorError(f"{path} was trained with feature-norm {recorded_features}, "
                             f"not {[float(v) for v in feature_norm]} (see {sidecar})")
    if lat_norm is not None and float(lat_norm) != recorded_lat:
        raise PredictorError(f"{path} was trained with lat-norm {recorded_lat:g}, not {float(lat_norm):g} (see {sidecar})")
    return recorded_features, recorded_lat


def _recorded_norms(path: Path) -> dict[str, Any]:
    """What is recorded beside a ``hat-mlp`` predictor file (``{}`` when nothing is)."""
    return read_json_record(norms_path(path), PredictorError, "predictor norms file") or {}
