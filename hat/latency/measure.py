"""Latency of a SubTransformer, measured as the original's ``latency_dataset.py`` and ``train.py --latcpu`` do.

Source: one dummy sentence ``[2] + [7]*(L-1)`` (batch 1); decoder input: ``beam`` copies of
``[7]*(L-1) + [2]``. Encoder: :data:`WARMUP` untimed calls, then ``latiter`` timed calls. Decoder: the
encoder output expanded to the beam, :data:`WARMUP` untimed full (teacher-forced) decoder calls, then
``latiter`` timed iterations of exactly ``L`` incremental decoder calls from an empty incremental state,
output projection included (no log-softmax or beam bookkeeping). Each side's samples are trimmed
(:func:`trimmed_mean_std`); the latency is ``encoder mean + decoder mean`` in ms.

``backend`` chooses the inference engine (:mod:`hat.latency.backends`): PyTorch eager, or the exported
SubTransformer on ONNX Runtime in float32 or int8, timed by the same procedure.

By default the compact extracted SubTransformer is measured in eval mode under
``torch.inference_mode()`` (what a deployment runs). ``original_mode=True`` reproduces the original's
timing context instead: the SuperTransformer itself, in train mode (dropout on), autograd on.
Weights are random (latency does not depend on their values); the vocabulary size does matter (the
output projection), see :func:`vocab_size_from_args`.
"""
import contextlib
import dataclasses
import os
import platform
import time
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from fairseq.data import Dictionary

from ..models.transformer_super import TransformerSuperModel
from ..profiling import build_for_profiling, dummy_inputs, dummy_sentence_length
from ..errors import LatencyError
from ..search_space import check_fits, config_from_args
from ..subtransformer import extract_subtransformer
from .backends import BACKENDS, INT8, backend_versions, effective_threads, onnxruntime_model
from .interleaved import measure_interleaved
from .probe import CalibrationProbe, ProbeSettings, Unguarded
from .threads import cpu_threads

WARMUP = 5  # untimed calls before the timed ones, encoder and decoder alike (the original's)
DEFAULT_VOCAB_SIZE = 32768  # the joined BPE dictionary of WMT'14/16 En-De (4 special symbols included)
DEVICES = ("cpu", "cuda")

SampleCallback = Callable[[str, float], None]  # called with ("encoder" | "decoder", ms) for every timed sample



@dataclass(frozen=True)
class MeasureSettings:
    """How to measure: ``device`` 'cpu' or 'cuda', ``latiter`` timed samples per side, ``beam`` copies of
    the decoder input, dummy sentence length ``length``, CPU ``threads`` (None: leave PyTorch's count
    unchanged, as the original), ``original_mode`` (SuperTransformer, train mode, autograd on), ``backend``
    (one of :data:`hat.latency.backends.BACKENDS`), ``half`` (float16 on CUDA, as the original's ``train.py
    --latgpu`` times a config with ``fp16: True``; else float32)."""

    device: str = "cpu"
    latiter: int = 300
    beam: int = 5
    length: int = 30
    threads: Optional[int] = None
    original_mode: bool = False
    backend: str = "torch"
    half: bool = False

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise LatencyError(f"device {self.device!r} is not one of {', '.join(DEVICES)}")
        if self.backend not in BACKENDS:
            raise LatencyError(f"latency backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.backend != "torch" and (self.device != "cpu" or self.original_mode):
            raise LatencyError(f"the {self.backend} backend measures on the CPU (--latcpu), without "
                               "--lat-original-mode")
        if self.half and (self.device != "cuda" or self.backend != "torch"):
            raise LatencyError("float16 timing needs the GPU (--latgpu) and the torch backend")
        for name in ("latiter", "beam", "length"):
            if getattr(self, name) < 1:
                raise LatencyError(f"{name}={getattr(self, name)} must be a positive integer")
        if self.threads is not None and self.threads < 1:
            raise LatencyError(f"threads={self.threads} must be a positive integer")

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point type of the timed model."""
        return torch.float16 if self.half else torch.float32


@dataclass(frozen=True)
class LatencyResult:
    """Trimmed mean and population std of each side (ms), and the raw timed samples in call order."""

    encoder_ms: float
    decoder_ms: float
    encoder_std_ms: float
    decoder_std_ms: float
    encoder_samples: Tuple[float, ...]
    decoder_samples: Tuple[float, ...]

    @property
    def latency_ms(self) -> float:
        """The reported latency: encoder mean + decoder mean."""
        return self.encoder_ms + self.decoder_ms

    def summary(self) -> Dict[str, float]:
        return {"latency_ms": self.latency_ms, "encoder_ms": self.encoder_ms, "decoder_ms": self.decoder_ms,
                "encoder_std_ms": self.encoder_std_ms, "decoder_std_ms": self.decoder_std_ms}


def trimmed_mean_std(samples: Sequence[float]) -> Tuple[float, float]:
    """Mean and population std (``np.std``) after dropping the ``int(0.1 * n)`` lowest and highest samples.

    For ``n < 10`` nothing is dropped, so at least one sample is always kept (the original's ``train.py``
    sliced ``[0:-0]`` and printed NaN; its ``latency_dataset.py`` dropped the highest sample only).
    """
    if not samples:
        raise LatencyError("no latency samples")
    cut = int(0.1 * len(samples))
    kept = sorted(samples)[cut:len(samples) - cut]
    return float(np.mean(kept)), float(np.std(kept))


def check_device(device: str) -> None:
    """Raise a clear :class:`LatencyError` when ``device`` is 'cuda' and CUDA is unavailable."""
    if device == "cuda" and not torch.cuda.is_available():
        raise LatencyError("GPU latency (--latgpu) needs CUDA, but torch.cuda.is_available() is False "
                           f"on this machine (torch {torch.__version__}); use --latcpu")


def device_name(device: str) -> str:
    """The CPU model (``/proc/cpuinfo``, else ``platform``) or the CUDA device name."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def resolve_vocab_size(args: Namespace, recorded: Optional[int] = None) -> Tuple[int, str]:
    """The output vocabulary size for measurement and where it comes from: ``--lat-vocab-size`` if given,
    else the target dictionary of the ``data`` folder (``dict.<target-lang>.txt``, else the first
    ``dict.*.txt``), else ``recorded`` (a dataset's or predictor's recorded settings), else
    :data:`DEFAULT_VOCAB_SIZE`. The size matters: the output projection is most of a small model's decoder."""
    if getattr(args, "lat_vocab_size", None) is not None:
        return args.lat_vocab_size, "--lat-vocab-size"
    data = Path(str(getattr(args, "data", "") or ""))
    target = getattr(args, "target_lang", None)
    candidates = [data / f"dict.{target}.txt"] if target else sorted(data.glob("dict.*.txt"))
    existing = [path for path in candidates if path.is_file()]
    if existing:
        return len(Dictionary.load(str(existing[0]))), str(existing[0])
    if recorded is not None:
        return int(recorded), "the recorded settings (no dictionary in the data folder)"
    return DEFAULT_VOCAB_SIZE, (f"the default: no dictionary in the data folder '{data}'; give --lat-vocab-size "
                                "or the data folder for the task's size")


def vocab_size_from_args(args: Namespace, recorded: Optional[int] = None) -> int:
    """The size of :func:`resolve_vocab_size`."""
    return resolve_vocab_size(args, recorded)[0]


def vocab_note(args: Namespace, recorded: Optional[int] = None) -> Optional[str]:
    """A line saying which vocabulary size is used when it does not come from the data folder (else None)."""
    size, source = resolve_vocab_size(args, recorded)
    return None if source.endswith(".txt") else f"| latency measured with a {size}-word output vocabulary ({source})"


def build_for_latency(args: Namespace, vocab_size: int) -> TransformerSuperModel:
    """A SuperTransformer of ``args``'s super dims, random weights, on a dummy vocabulary of ``vocab_size``."""
    if vocab_size < 8:
        raise LatencyError(f"vocabulary size {vocab_size} is too small: the dummy sentence uses token 7")
    return build_for_profiling(args, vocab_size)


def prepare_model(model: TransformerSuperModel, config: dict, settings: MeasureSettings) -> TransformerSuperModel:
    """The model to time, on ``settings.device`` in ``settings.dtype``: compact in eval mode, or (original mode)
    the SuperTransformer set to ``config`` in train mode, or the exported SubTransformer on ONNX Runtime."""
    if settings.backend != "torch":
        return onnxruntime_model(model, config, settings.backend, settings.threads)
    if settings.original_mode:
        model.set_sample_config(config)
        return model.train().to(settings.device, settings.dtype)
    return extract_subtransformer(model, config).eval().to(settings.device, settings.dtype)


def _cpu_timer(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def _cuda_timer(call: Callable[[], object]) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    call()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end)


def time_encoder_decoder(model: TransformerSuperModel, settings: MeasureSettings,
                         on_sample: Optional[SampleCallback] = None) -> Tuple[List[float], List[float]]:
    """The ``latiter`` encoder and decoder samples (ms) of ``model`` as it is (mode and grad context are the
    caller's); see the module docstring for the procedure."""
    timer = _cuda_timer if settings.device == "cuda" else _cpu_timer
    length, beam = settings.length, settings.beam
    src, _ = dummy_inputs(length)
    _, prev = dummy_inputs(length, beam)
    src, prev = src.to(settings.device), prev.to(settings.device)
    src_lengths = torch.tensor([length], device=settings.device)
    report = on_sample or (lambda side, ms: None)

    for _ in range(WARMUP):
        encoder_out = model.encoder(src, src_lengths=src_lengths)
    encoder_samples = []
    for _ in range(settings.latiter):
        encoder_samples.append(timer(lambda: model.encoder(src, src_lengths=src_lengths)))
        report("encoder", encoder_samples[-1])

    encoder_out = model.encoder.reorder_encoder_out(
        encoder_out, torch.zeros(beam, dtype=torch.long, device=settings.device))
    for _ in range(WARMUP):
        model.decoder(prev, encoder_out=encoder_out)

    def decode() -> None:
        state: dict = {}
        for k in range(length):
            model.decoder(prev[:, :k + 1], encoder_out=encoder_out, incremental_state=state)

    decoder_samples = []
    for _ in range(settings.latiter):
        decoder_samples.append(timer(decode))
        report("decoder", decoder_samples[-1])
    return encoder_samples, decoder_samples


def measure_latency(model: TransformerSuperModel, config: dict, settings: MeasureSettings,
                    on_sample: Optional[SampleCallback] = None) -> LatencyResult:
    """Latency of SubTransformer ``config`` of ``model`` (a SuperTransformer) under ``settings``."""
    check_device(settings.device)
    timed = prepare_model(model, config, settings)
    grad = torch.enable_grad() if settings.original_mode else torch.inference_mode()
    with cpu_threads(settings.threads), grad:
        encoder_samples, decoder_samples = time_encoder_decoder(timed, settings, on_sample)
    (encoder_ms, encoder_std), (decoder_ms, decoder_std) = map(trimmed_mean_std, (encoder_samples, decoder_samples))
    return LatencyResult(encoder_ms, decoder_ms, encoder_std, decoder_std, tuple(encoder_samples),
                         tuple(decoder_samples))


def describe(settings: MeasureSettings, vocab_size: int) -> Dict[str, object]:
    """The measurement settings as recorded next to results (JSON-able): device and its name, the thread
    count actually in effect, latiter, beam, L, vocabulary size, mode, backend, precision, torch version (and
    the engine's)."""
    check_device(settings.device)
    threads = effective_threads(settings.threads)
    info = {"device": settings.device, "device_name": device_name(settings.device), "threads": threads,
            "latiter": settings.latiter, "beam": settings.beam, "dummy_sentence_length": settings.length,
            "vocab_size": vocab_size, "original_mode": settings.original_mode,
            "precision": "int8" if settings.backend == INT8 else str(settings.dtype).removeprefix("torch."),
            "torch_version": torch.__version__, "cpu_count": os.cpu_count(), **backend_versions(settings.backend)}
    if settings.backend != "torch":  # absent for PyTorch, so that datasets recorded before backends resume
        info["backend"] = settings.backend
    return info


def add_latency_args(parser) -> None:
    """The latency flags of ``train.py`` and ``latency_dataset.py`` (the original's, plus this project's)."""
    group = parser.add_argument_group("latency measurement")
    group.add_argument("--latcpu", action="store_true", help="measure latency on the CPU")
    group.add_argument("--latgpu", action="store_true",
                       help="measure latency on the GPU (CUDA: float32; train.py times float16 when the config "
                            "says fp16, as the original)")
    group.add_argument("--latiter", type=int, default=300, help="timed samples per side (default 300)")
    group.add_argument("--latsilent", action="store_true", help="do not print every timed sample")
    group.add_argument("--beam", type=int, default=5, help="beam size simulated by the decoder (default 5)")
    group.add_argument("--lat-threads", type=int, default=None,
                       help="CPU threads for measurement (default: PyTorch's default count, as the original)")
    group.add_argument("--lat-vocab-size", type=int, default=None,
                       help="output vocabulary size (default: the data folder's target dictionary if present, "
                            f"else {DEFAULT_VOCAB_SIZE})")
    group.add_argument("--lat-original-mode", action="store_true",
                       help="time as the original: the SuperTransformer in train mode with autograd "
                            "(default: the compact SubTransformer, eval mode, inference mode)")
    group.add_argument("--dummy-sentence-length", type=int, default=None,
                       help="dummy sentence length for FLOPs/latency (default: 23 for iwslt arches, else 30)")
    group.add_argument("--lat-backend", choices=BACKENDS, default="torch",
                       help="inference engine to measure: PyTorch eager (the original's), or the SubTransformer "
                            "exported to ONNX and run by ONNX Runtime, float32 or int8 (needs pip install -e "
                            "\".[deploy]\"; CPU only)")
    group.add_argument("--lat-rounds", type=int, default=3,
                       help="train.py --latcpu/--latgpu: measurements of the SubTransformer, reported as their median "
                            "(default 3)")
    group.add_argument("--no-lat-probe", action="store_true",
                       help="measure without the calibration probe that detects a busy CPU and re-measures "
                            "(hat.latency.probe)")
    group.add_argument("--lat-probe-threshold", type=float, default=ProbeSettings.threshold,
                       help="a measurement is repeated when the probe is this much slower than its quiet baseline "
                            "(default 0.10: 10%%)")
    group.add_argument("--lat-probe-retries", type=int, default=ProbeSettings.max_retries,
                       help="re-measurements of a row while the machine is busy, before it is kept but flagged")


def probe_for(args: Namespace, settings: MeasureSettings):
    """The calibration probe of a CPU measurement on ``settings.threads`` threads; on a GPU, or with
    ``--no-lat-probe``, measurements are not guarded."""
    if settings.device != "cpu" or getattr(args, "no_lat_probe", False):
        return Unguarded()
    return CalibrationProbe.for_threads(settings.threads, ProbeSettings(
        threshold=getattr(args, "lat_probe_threshold", ProbeSettings.threshold),
        max_retries=getattr(args, "lat_probe_retries", ProbeSettings.max_retries)))


def settings_from_args(args: Namespace) -> MeasureSettings:
    """:class:`MeasureSettings` from the flags of :func:`add_latency_args` (exactly one of --latcpu/--latgpu),
    float32 as the original's ``latency_dataset.py``."""
    if args.latcpu == args.latgpu:
        raise LatencyError("choose exactly one of --latcpu and --latgpu")
    return MeasureSettings(device="cuda" if args.latgpu else "cpu", latiter=args.latiter, beam=args.beam,
                           length=dummy_sentence_length(args.arch, args.dummy_sentence_length),
                           threads=args.lat_threads, original_mode=args.lat_original_mode,
                           backend=getattr(args, "lat_backend", "torch"))


def subtransformer_settings(args: Namespace) -> MeasureSettings:
    """``train.py --latcpu/--latgpu``'s :class:`MeasureSettings`: float16 with --latgpu when the config says
    ``fp16`` (the original's ``train.py`` measures through its Trainer, which halves the model)."""
    settings = settings_from_args(args)
    return dataclasses.replace(settings, half=args.latgpu and bool(getattr(args, "fp16", False)))


def measure_subtransformer(args: Namespace, on_sample: Optional[SampleCallback] = None,
                           log: Optional[Callable[[str], None]] = None) -> Dict[str, object]:
    """Latency of the SubTransformer given by the ``*-subtransformer`` arguments (``--latcpu`` / ``--latgpu``):
    ``--lat-rounds`` measurements under the calibration probe, reported by the median round (the lower
    median for an even count, so that ``latency_ms`` stays ``encoder_ms + decoder_ms``), with the spread
    of the rounds and the settings it was measured with."""
    config = check_fits(config_from_args(args), args)
    settings = subtransformer_settings(args)
    vocab_size = vocab_size_from_args(args)
    model = build_for_latency(args, vocab_size)
    probe = probe_for(args, settings)
    by_latency: Dict[float, LatencyResult] = {}  # the probe keeps a round's last attempt: found by its value

    def measure() -> float:
        result = measure_latency(model, config, settings, on_sample)
        by_latency[result.latency_ms] = result
        return result.latency_ms

    summary = measure_interleaved({"subtransformer": measure}, args.lat_rounds, probe, log)["subtransformer"]
    kept = [v for v, flagged in zip(summary["samples_ms"], summary["round_flagged"]) if not flagged] or summary["samples_ms"]
    median_round = by_latency[sorted(kept)[(len(kept) - 1) // 2]]
    return {"config": config, **summary, **median_round.summary(), "probe": probe.report(),
            **describe(settings, vocab_size)}
