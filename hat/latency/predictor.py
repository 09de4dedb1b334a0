"""Latency predictors: the original HAT MLP (``hat-mlp``) and the default ``ridge`` model.

Both map the 10 config features (:func:`hat.search_space.config_features`) to a latency in ms.

``hat-mlp`` is the original recipe exactly (reference section 6): features / feature-norm,
``first_layer`` Linear(10->400)+ReLU, 3 x [Linear(400,400)+ReLU] ``layers.0..2``, ``predict``
Linear(400->1), target / lat-norm, MSE, Adam lr 1e-5, 5000 steps of 128 distinct random training
rows. It saves, and loads, the original's plain state dict (the released ``predictors/*.pt``).

``ridge`` (the default) is a ridge regression on physically motivated terms. A layer's latency is
roughly linear in its work: an encoder layer costs ~E_e^2 (projections) + E_e*F_e (FFN) plus a
per-head overhead, a decoder layer the same in E_d / F_d plus encoder-decoder attention over A
encoder layers. Per-layer averages times the layer count are exact per-layer sums, so the terms are
``N_e, N_e*E_e^2, N_e*E_e*F_e, N_e*H_e, N_d, N_d*E_d^2, N_d*E_d*F_d, N_d*H_d, N_d*H_x, N_d*A, E_d,
E_e`` (E embed dim, N layers, F average FFN dim, H average heads, A average attended encoder layers;
E_d also covers the output projection). Terms are standardised on the training rows; the ridge
penalty is picked on the validation split from a fixed grid, so training is deterministic, takes
milliseconds, and needs no feature-norm / lat-norm.

Why: on the four released datasets (``benchmarks/README.md``, split seeds 1-3) its mean test RMSE
is 2-3% below hat-mlp's on every dataset, and trained on 400 rows it is still below hat-mlp trained
on all 1600. Richer fits (23 work terms, the full quadratic of the features, 218 layer-count x
quadratic terms, log latency) were measured and were no better: the remaining error is not a
function of the config -- the released measurements drift with the row (measurement time) order by
up to ~20% -- so this small model already sits at that noise floor and is the most data-efficient.
"""
from __future__ import annotations

import contextlib
import json
import math
import random
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Optional

import numpy as np
import torch

from ..checkpoint import save_atomic
from ..io import write_text_atomic
from ..search_space import FEATURE_NAMES, config_features
from ..errors import PredictorError

Log = Callable[[str], None]

ORIGINAL_FEATURE_NORM = (640.0, 6.0, 2048.0, 6.0, 640.0, 6.0, 2048.0, 6.0, 6.0, 2.0)
"""The original's ``feature-norm`` (the same for every task and hardware)."""

RELEASED_LAT_NORMS = {
    f"{task}_{hardware}_all.csv": norm
    for task in ("wmt14ende", "wmt14enfr")
    for hardware, norm in (("cpu_raspberrypi", 5000.0), ("cpu_xeon", 300.0), ("gpu_titanxp", 200.0))
}
RELEASED_LAT_NORMS.update({"wmt19ende_gpu_titanxp_all.csv": 200.0, "iwslt14deen_gpu_titanxp_all.csv": 200.0})
"""The original's ``lat-norm`` of each released latency dataset, by file name (reference 1.7)."""

MODELS = ("ridge", "hat-mlp")
"""Predictor kinds; the first is the default."""

RIDGE_TERMS = ("N_e", "N_e*E_e^2", "N_e*E_e*F_e", "N_e*H_e", "N_d", "N_d*E_d^2", "N_d*E_d*F_d",
               "N_d*H_d", "N_d*H_x", "N_d*A", "E_d", "E_e")
RIDGE_PENALTIES = tuple(10.0 ** k for k in range(-4, 4))
MIN_ROWS = 10  # the smallest dataset whose 80/10/10 split leaves a row in every part



@dataclass(frozen=True)
class MLPRecipe:
    """The original's training settings (reference 1.7 / 6)."""

    hidden_dim: int = 400
    hidden_layer_num: int = 3
    train_steps: int = 5000
    bsz: int = 128
    lr: float = 1e-5


class Split(NamedTuple):
    """Row indices of the train / valid / test parts."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def split_indices(n: int, seed: int, train_samples: Optional[int] = None) -> Split:
    """The random 80/10/10 split (floor sizes, as the original) of ``n`` rows, seeded by ``seed``.

    The rows are shuffled with ``random.Random(seed)``; train = the first int(0.8n), valid = the next
    int(0.1n), test = the rest. ``train_samples`` keeps only the first rows of the training part.
    """
    if n < MIN_ROWS:
        raise PredictorError(f"a latency dataset needs at least {MIN_ROWS} rows to split 80/10/10, got {n}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_train, n_valid = int(0.8 * n), int(0.1 * n)
    train = order[:n_train]
    if train_samples is not None:
        if not 1 <= train_samples <= n_train:
            raise PredictorError(f"--train-samples {train_samples} is not between 1 and the {n_train} training rows")
        train = train[:train_samples]
    return Split(np.array(train), np.array(order[n_train:n_train + n_valid]), np.array(order[n_train + n_valid:]))


def rmse(predicted: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error (ms)."""
    return float(np.sqrt(np.mean((np.asarray(predicted) - target) ** 2)))


def mape(predicted: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute percentage error (%); the original's MAPD times 100."""
    return float(100.0 * np.mean(np.abs(np.asarray(predicted) - target) / target))


def round_one_digit(value: float) -> float:
    """``value`` rounded to one significant digit (e.g. 172.4 -> 200, 5812 -> 6000)."""
    if value <= 0 or not math.isfinite(value):
        raise PredictorError(f"cannot derive lat-norm from a mean training latency of {value}")
    return float(round(value, -int(math.floor(math.log10(value)))))


def default_lat_norm(dataset: str | Path, train_latency: np.ndarray) -> tuple[float, str]:
    """``(lat-norm, where it comes from)``: the original's for a released file, else from the data."""
    name = Path(dataset).name
    if name in RELEASED_LAT_NORMS:
        return RELEASED_LAT_NORMS[name], f"the original's for {name}"
    return round_one_digit(float(np.mean(train_latency))), "mean training latency, one significant digit"


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
    """Predicts latency (ms) of SubTransformer configs, vectorised over many configs per call."""

    kind: str

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
            {"kind": self.kind, "feature_norm": self.feature_norm.tolist(), "lat_norm": self.lat_norm}) + "\n")

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
                "weights": torch.from_numpy(self.weights), "bias": self.bias}

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
        return cls(*arrays, state["bias"])


def fit_ridge(features: np.ndarray, latency: np.ndarray, penalty: float) -> RidgePredictor:
    """Ridge regression of ``latency`` on the standardised terms (intercept not penalised)."""
    terms = ridge_terms(features)
    mean = terms.mean(axis=0)
    scale = terms.std(axis=0)
    scale[scale == 0] = 1.0  # a constant term: centring makes it zero, the intercept absorbs it
    z = (terms - mean) / scale
    bias = float(latency.mean())
    weights = np.linalg.solve(z.T @ z + penalty * np.eye(z.shape[1]), z.T @ (latency - bias))
    return RidgePredictor(mean, scale, weights, bias)


def train_ridge(train: tuple[np.ndarray, np.ndarray], valid: tuple[np.ndarray, np.ndarray], log: Log) -> RidgePredictor:
    """Fit on ``train`` for every penalty of :data:`RIDGE_PENALTIES`; keep the best on ``valid``."""
    best: Optional[tuple[float, RidgePredictor]] = None
    for penalty in RIDGE_PENALTIES:
        predictor = fit_ridge(*train, penalty)
        error = rmse(predictor.predict_features(valid[0]), valid[1])
        log(f"| ridge penalty {penalty:g} | valid RMSE {error:.3f} ms")
        if best is None or error < best[0]:
            best = (error, predictor)
    return best[1]


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread: small batches gain nothing from more, and a busy CPU loses a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_hat_mlp(train: tuple[np.ndarray, np.ndarray], valid: tuple[np.ndarray, np.ndarray], *,
                  feature_norm: Sequence[float], lat_norm: float, recipe: MLPRecipe, seed: int,
                  log: Log) -> HatMLPPredictor:
    """The original training loop, seeded: ``recipe.bsz`` distinct random rows per step, MSE, Adam.

    Every 100 steps (step 0 included) logs the validation MSE (normalised) and RMSE (ms).
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    predictor = HatMLPPredictor(HatMLP(len(FEATURE_NAMES), recipe.hidden_dim, recipe.hidden_layer_num),
                                feature_norm, lat_norm)
    net = predictor.net.train()
    x, y = predictor.normalise(train[0]), torch.tensor(train[1] / lat_norm, dtype=torch.float32)
    valid_x, valid_y = predictor.normalise(valid[0]), torch.tensor(valid[1] / lat_norm, dtype=torch.float32)
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    batch = min(recipe.bsz, len(y))
    with single_thread():
        for step in range(recipe.train_steps):
            rows = torch.tensor(rng.sample(range(len(y)), batch))
            loss = torch.nn.functional.mse_loss(net(x[rows])[:, 0], y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 100 == 0:
                with torch.no_grad():
                    valid_mse = torch.nn.functional.mse_loss(net(valid_x)[:, 0], valid_y).item()
                log(f"| step {step} | valid MSE {valid_mse:.6f} | valid RMSE {math.sqrt(valid_mse) * lat_norm:.3f} ms")
    net.eval()
    return predictor


def train_predictor(model: str, features: np.ndarray, latency: np.ndarray, split: Split, *,
                    feature_norm: Sequence[float] = ORIGINAL_FEATURE_NORM, lat_norm: float,
                    recipe: MLPRecipe = MLPRecipe(), seed: int = 1, log: Log = lambda line: None) -> LatencyPredictor:
    """Train a ``model`` (one of :data:`MODELS`) on ``split.train``, validating on ``split.valid``."""
    train, valid = (features[split.train], latency[split.train]), (features[split.valid], latency[split.valid])
    if model == "ridge":
        return train_ridge(train, valid, log)
    if model == "hat-mlp":
        return train_hat_mlp(train, valid, feature_norm=feature_norm, lat_norm=lat_norm, recipe=recipe, seed=seed, log=log)
    raise PredictorError(f"unknown predictor model {model!r}; choose from {', '.join(MODELS)}")


def evaluate(predictor: LatencyPredictor, features: np.ndarray, latency: np.ndarray) -> dict[str, float]:
    """``{'rmse': ms, 'mape': %}`` of the predictor on these rows."""
    predicted = predictor.predict_features(features)
    return {"rmse": rmse(predicted, latency), "mape": mape(predicted, latency)}


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
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise PredictorError(f"{path} is not a readable latency predictor ({type(exc).__name__}: {exc})") from None
    if isinstance(state, Mapping) and state.get("kind") == RidgePredictor.kind:
        return RidgePredictor.from_state_dict(state)
    if isinstance(state, Mapping) and "first_layer.weight" in state:
        feature_norm, lat_norm = _checked_norms(path, feature_norm, lat_norm)
        if feature_norm is None or lat_norm is None:
            raise PredictorError(f"{path} is an original HAT predictor (plain state dict): "
                                 "give its feature-norm and lat-norm")
        return HatMLPPredictor.from_state_dict(state, feature_norm, lat_norm)
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
    try:
        recorded = json.loads(sidecar.read_text())
        recorded_features, recorded_lat = [float(v) for v in recorded["feature_norm"]], float(recorded["lat_norm"])
    except (ValueError, KeyError, TypeError) as exc:
        raise PredictorError(f"{sidecar} is not a valid predictor norms file ({exc})") from None
    if feature_norm is not None and [float(v) for v in feature_norm] != recorded_features:
        raise PredictorError(f"{path} was trained with feature-norm {recorded_features}, "
                             f"not {[float(v) for v in feature_norm]} (see {sidecar})")
    if lat_norm is not None and float(lat_norm) != recorded_lat:
        raise PredictorError(f"{path} was trained with lat-norm {recorded_lat:g}, not {float(lat_norm):g} (see {sidecar})")
    return recorded_features, recorded_lat


def stderr_log(line: str) -> None:
    """Progress logger writing to stderr."""
    print(line, file=sys.stderr, flush=True)
