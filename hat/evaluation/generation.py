"""Translation with a SubTransformer, as the original's ``generate.py`` (fairseq's generate), in process.

``--configs=<sub.yml>`` selects the SubTransformer: of a SubTransformer checkpoint, or of a
SuperTransformer checkpoint (inherited weights, the original's "evaluate an inherited
SubTransformer"); without it a SubTransformer checkpoint uses its own config. Everything else is
fairseq's ``generate`` (beam search, ``--remove-bpe``, ``--results-path`` ...). On a machine without
CUDA, ``--fp16`` is dropped with a warning and ``--cpu`` is implied.

With a SuperTransformer checkpoint the SubTransformer must be in the search space it was trained with (its
``*-choice`` lists); ``--allow-off-space`` runs one outside it (then it only has to fit the SuperTransformer's
dimensions). The checkpoint is checked before fairseq reads it: a missing, truncated or foreign file, or one
trained with another vocabulary than the data's, is one :class:`hat.errors.CheckpointError`.

``--onnx <folder>`` translates with a SubTransformer exported by ``scripts/export_subtransformer.py --format
onnx`` on ONNX Runtime instead (``--onnx-int8``: its int8 graphs), still with fairseq's beam search and
output: :class:`hat.runtime.onnxruntime_model.OnnxRuntimeSubTransformer` stands in for the checkpoint.
"""
import contextlib
import logging
import os
from argparse import Namespace
from typing import List, Sequence

import torch
from fairseq import checkpoint_utils, options
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq_cli import generate as fairseq_generate

from ..config_args import split_config_flags
from ..errors import ConfigError
from ..loading import check_checkpoint_for_data
from ..tasks.translation_supertransformer import TranslationSuperTransformerTask
from ..training import HAT_PACKAGE_DIR

logger = logging.getLogger(__name__)


def translate_argv(argv: Sequence[str]) -> List[str]:
    """The original's ``--configs=<sub.yml>`` becomes the task's ``--subtransformer-config``."""
    paths, rest = split_config_flags(argv, ("--configs",))
    return rest + (["--subtransformer-config", paths["--configs"]] if paths["--configs"] else [])


def parse_args(argv: Sequence[str]) -> Namespace:
    """``generate.py``'s arguments: fairseq's generation flags with the task ``translation_supertransformer``,
    ``--configs=<sub.yml>``, HAT's plugin folder, and float32 on the CPU without CUDA."""
    parser = options.get_generation_parser(default_task="translation_supertransformer")
    group = parser.add_argument_group("ONNX Runtime")
    group.add_argument("--onnx", metavar="FOLDER",
                       help="translate with a SubTransformer exported to ONNX (scripts/export_subtransformer.py "
                            "--format onnx) on ONNX Runtime, instead of --path")
    group.add_argument("--onnx-int8", action="store_true", help="--onnx: run its int8 graphs")
    group.add_argument("--onnx-threads", type=int, default=None,
                       help="--onnx: ONNX Runtime intra-op threads (default: ONNX Runtime's)")
    if any(word in ("-h", "--help") for word in argv):  # fairseq prints its help before it adds the task's flags
        TranslationSuperTransformerTask.add_args(parser)  # (--subtransformer-config, --allow-off-space, ...)
    args = options.parse_args_and_arch(parser, input_args=translate_argv(argv))
    # fairseq's batch_by_size with a batch-size multiple of 8 (its default) drops sentences of some
    # subsets (296 of 300): every sentence must be translated for a BLEU score to mean the subset's.
    args.required_batch_size_multiple = 1
    if not torch.cuda.is_available():
        if args.fp16:
            logger.warning("fp16 is ignored: it needs a CUDA GPU (generating in float32 on the CPU)")
        args.fp16, args.cpu = False, True
    args.user_dir = str(HAT_PACKAGE_DIR)
    if args.onnx:
        if args.path:
            raise ConfigError("give --onnx or --path, not both")
        args.path = args.onnx  # fairseq requires a path; the exported model replaces its loading
    elif args.onnx_int8:
        raise ConfigError("--onnx-int8 needs --onnx <folder>")
    return args


def generate(args: Namespace) -> None:
    """Run fairseq's generation with ``args`` (output to stdout or ``<results-path>/generate-<subset>.txt``)."""
    if not getattr(args, "path", None):
        raise ConfigError("no checkpoint to generate with: give --path <checkpoint.pt>")
    cfg = convert_namespace_to_omegaconf(args)
    if getattr(args, "onnx", None):
        from ..export.onnx import read_metadata

        read_metadata(args.onnx)  # one line if the folder is not an export
        with exported_model(args, cfg):
            fairseq_generate.main(cfg)
        return
    for path in str(args.path).split(os.pathsep):  # before fairseq reads it: one line, not its traceback
        check_checkpoint_for_data(path, getattr(args, "data", None), getattr(args, "source_lang", None),
                                  getattr(args, "target_lang", None))
    fairseq_generate.main(cfg)


@contextlib.contextmanager
def exported_model(args: Namespace, cfg):
    """fairseq's generation loads the ONNX Runtime model of ``args.onnx`` instead of reading checkpoints."""
    from ..runtime.onnxruntime_model import OnnxRuntimeSubTransformer

    def load(filenames, arg_overrides=None, task=None, **unused):
        model = OnnxRuntimeSubTransformer.load(args.onnx, task.source_dictionary, task.target_dictionary,
                                               args.onnx_int8, args.onnx_threads)
        return [model], cfg

    loader = checkpoint_utils.load_model_ensemble
    checkpoint_utils.load_model_ensemble = load
    try:
        yield
    finally:
        checkpoint_utils.load_model_ensemble = loader
