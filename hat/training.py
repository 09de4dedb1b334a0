"""Training through stock fairseq (``fairseq_cli.train``), with HAT's task and model plugged in.

Resume is exact: a run killed at any point (mid-epoch, during a checkpoint save) and rerun with the same
command ends with the same weights and optimizer state as an uninterrupted run. fairseq restores the
update count, the epoch and the position in it from ``checkpoint_last.pt``, seeds dropout with
``seed + num_updates`` at every update, and the task samples the SubTransformer from the update number;
what fairseq does not do by default is re-form the batches of each epoch from ``seed`` and the epoch
(it forms them once, in the epoch the iterator was created, and reuses them), so HAT turns on
``--update-epoch-batch-itr``. A ``checkpoint_last.pt`` that cannot be read (a truncated copy, a full
disk) is reported and the newest readable checkpoint of the save dir is used instead.
"""
import logging
import re
from argparse import Namespace
from pathlib import Path

import torch
from fairseq import distributed_utils, options
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.logging import progress_bar
from fairseq_cli import train as fairseq_train

from .checkpoint import load_trusted
from .config_args import add_config_flags, parse_config_args
from .errors import USER_IO_ERRNOS, CheckpointError, OutputError
from .latency.measure import add_latency_args
from .loading import check_checkpoint_for_data
from .locks import exclusive_output
from .models.transformer_super import base_architecture
from .search_space import SearchSpace, check_fits, config_from_args

logger = logging.getLogger(__name__)

HAT_PACKAGE_DIR = Path(__file__).resolve().parent
CONFIG_FLAGS = ("--configs", "--sub-configs")


def get_parser():
    """``train.py``'s parser: fairseq's training flags, the config files, profiling and latency flags."""
    parser = options.get_training_parser(default_task="translation_supertransformer")
    add_config_flags(parser, CONFIG_FLAGS)
    group = parser.add_argument_group("HAT")
    group.add_argument("--profile-flops", action="store_true", help="print #params and FLOPs of the SubTransformer, then exit")
    group.add_argument("--json", action="store_true", help="print the result as one JSON object")
    group.add_argument("--log-brief", action="store_true",
                       help="leave out fairseq's printout of the whole config and model at the start of training")
    add_latency_args(parser)
    return parser


def parse_train_args(argv) -> Namespace:
    """``train.py``'s arguments, config files applied (e.g. ``[data, "--configs=x.yml", "--latcpu"]``)."""
    return parse_config_args(get_parser(), argv, CONFIG_FLAGS)


def default_save_dir(configs: str) -> str:
    """The original's default: ``checkpoints/<--configs path without 'configs/' and '.yml'>``."""
    path = Path(configs).with_suffix("")
    parts = path.parts[1:] if path.parts and path.parts[0] == "configs" else path.parts
    return str(Path("checkpoints", *parts))


def validate_model_args(args: Namespace) -> None:
    """Fail before any data is read: the search space, or the SubTransformer to train, must fit the model."""
    model_args = Namespace(**vars(args))
    base_architecture(model_args)
    if getattr(args, "train_subtransformer", False):
        check_fits(config_from_args(model_args), model_args)
    else:
        SearchSpace.from_args(model_args)


def prepare_training_args(args: Namespace) -> Namespace:
    """Apply HAT's defaults and CPU rules to parsed training arguments (in place, returned)."""
    validate_model_args(args)
    if args.fp16 and (args.cpu or not torch.cuda.is_available()):
        logger.warning("fp16 is ignored: it needs a CUDA GPU (training in float32 on the CPU)")
        args.fp16 = False
    if not torch.cuda.is_available():
        args.cpu = True
    if args.save_dir == "checkpoints" and getattr(args, "configs", None):
        args.save_dir = default_save_dir(args.configs)
    # Batches re-formed per epoch from (seed, epoch): what makes a resumed run equal an uninterrupted one.
    args.update_epoch_batch_itr = True
    # Spawned distributed workers import the plugin from here.
    args.user_dir = str(HAT_PACKAGE_DIR)
    return args


_fairseq_progress_bar = progress_bar.progress_bar


def _progress_bar_with_one_log_file_handler(*args, **kwargs):
    """fairseq's ``progress_bar()``, minus the duplicate ``--log-file`` handler it adds at every call
    (every epoch and validation), which wrote each line of epoch N to the log file N times."""
    bar = _fairseq_progress_bar(*args, **kwargs)
    seen = set()
    for handler in list(progress_bar.logger.handlers):
        if isinstance(handler, logging.FileHandler):
            if handler.baseFilename in seen:
                progress_bar.logger.removeHandler(handler)
                handler.close()
            seen.add(handler.baseFilename)
    return bar


def train_main(cfg) -> None:
    """fairseq's ``train.main`` (in every distributed worker), with its log-file duplication fixed."""
    progress_bar.progress_bar = _progress_bar_with_one_log_file_handler
    logging.getLogger("fairseq.checkpoint_utils").addFilter(NO_TRACEBACK_RECORDS)
    fairseq_train.main(cfg)


CHECKPOINT_NAME = re.compile(r"checkpoint(?:_last|_best|\d+|_\d+_\d+)\.pt")


def _readable(path: Path) -> bool:
    try:
        load_trusted(path)
    except CheckpointError:
        return False
    return True


def choose_restore_file(args: Namespace) -> None:
    """Check ``--restore-file`` before any work (in place).

    A named restore file must exist and be readable. With the default (``checkpoint_last.pt`` of the save
    dir), an unreadable one is reported and the newest readable checkpoint of the save dir is used; if
    there is none, training stops rather than silently starting from scratch."""
    save_dir = Path(args.save_dir)
    if args.restore_file != "checkpoint_last.pt":
        # CheckpointError: missing, truncated, foreign, or built for another vocabulary than the data's
        check_checkpoint_for_data(args.restore_file, args.data, args.source_lang, args.target_lang)
        return
    last = save_dir / "checkpoint_last.pt"
    if not last.exists() or _readable(last):
        return
    others = sorted((p for p in save_dir.iterdir() if CHECKPOINT_NAME.fullmatch(p.name) and p != last),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for candidate in others:
        if _readable(candidate):
            logger.warning(f"{last} is unreadable; resuming from {candidate}, the newest readable checkpoint")
            print(f"| warning: {last} is unreadable; resuming from {candidate}", flush=True)
            args.restore_file = str(candidate)
            return
    raise CheckpointError(f"{last} is unreadable and {save_dir} has no other readable checkpoint; remove it to "
                          "train from scratch")


def run_training(args: Namespace) -> int:
    """Train with fairseq's own trainer, checkpointing and distributed launch; the save dir is locked
    against a second run for the whole training."""
    args = prepare_training_args(args)
    if getattr(args, "log_brief", False):
        logging.getLogger("fairseq_cli.train").addFilter(NO_OBJECT_DUMPS)
    if args.no_save or (args.distributed_rank or 0) > 0:  # one lock per training: rank 0's
        choose_restore_file(args)
        return _train(args)
    with exclusive_output(args.save_dir, "save dir", is_dir=True):
        choose_restore_file(args)
        return _train(args)


def _train(args: Namespace) -> int:
    """fairseq's training; a checkpoint that cannot be written (full disk, file-size limit, read-only save
    dir) is one :class:`OutputError` naming the save dir, and ``checkpoint_last.pt`` stays the last good one."""
    try:
        distributed_utils.call_main(convert_namespace_to_omegaconf(args), train_main)
    except OSError as exc:
        if exc.errno not in USER_IO_ERRNOS:
            raise
        raise OutputError(f"cannot write a checkpoint in {args.save_dir}: {exc.strerror}") from None
    except RuntimeError as exc:
        if not any(mark in str(exc) for mark in TORCH_WRITE_FAILURES):
            raise
        raise OutputError(f"cannot write a checkpoint in {args.save_dir}: the write stopped half-way (a full "
                          "disk or a file-size limit)") from None
    return 0


TORCH_WRITE_FAILURES = ("inline_container.cc", "PytorchStreamWriter failed")
"""How ``torch.save``'s zip writer reports a write that failed (it does not raise the OSError)."""


class _NoTracebackRecords(logging.Filter):
    """fairseq's checkpoint writer logs the traceback of a failed save before raising it; the error is
    reported once, as one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Traceback")


NO_TRACEBACK_RECORDS = _NoTracebackRecords()


class _NoObjectDumps(logging.Filter):
    """``--log-brief``: fairseq logs the whole config and the model's printout as objects (thousands of
    characters each); its progress lines are strings."""

    def filter(self, record: logging.LogRecord) -> bool:
        return isinstance(record.msg, str)


NO_OBJECT_DUMPS = _NoObjectDumps()
