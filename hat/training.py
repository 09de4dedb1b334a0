"""Training through stock fairseq (``fairseq_cli.train``), with HAT's task and model plugged in."""
import logging
from argparse import Namespace
from pathlib import Path

import torch
from fairseq import distributed_utils, options
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq.logging import progress_bar
from fairseq_cli import train as fairseq_train

from .config_args import add_config_flags, parse_config_args
from .latency.measure import add_latency_args
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
    fairseq_train.main(cfg)


def run_training(args: Namespace) -> int:
    """Train with fairseq's own trainer, checkpointing and distributed launch."""
    cfg = convert_namespace_to_omegaconf(prepare_training_args(args))
    distributed_utils.call_main(cfg, train_main)
    return 0
