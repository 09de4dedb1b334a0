"""``generate.py``: translate with a SubTransformer, as the original's ``generate.py`` (fairseq's generate).

``--configs=<sub.yml>`` selects the SubTransformer: of a SubTransformer checkpoint, or of a
SuperTransformer checkpoint (inherited weights, the original's "evaluate an inherited
SubTransformer"); without it a SubTransformer checkpoint uses its own config. Everything else is
fairseq's ``generate`` (beam search, ``--remove-bpe``, ``--results-path`` ...). On a machine without
CUDA, ``--fp16`` is dropped with a warning and ``--cpu`` is implied.
"""
import logging
import sys
from argparse import Namespace
from typing import List, Optional, Sequence

import torch
from fairseq import options
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from fairseq_cli import generate as fairseq_generate

from ..config_args import split_config_flags
from ..training import HAT_PACKAGE_DIR

logger = logging.getLogger(__name__)


def translate_argv(argv: Sequence[str]) -> List[str]:
    """The original's ``--configs=<sub.yml>`` becomes the task's ``--subtransformer-config``."""
    paths, rest = split_config_flags(argv, ("--configs",))
    return rest + (["--subtransformer-config", paths["--configs"]] if paths["--configs"] else [])


def parse_args(argv: Sequence[str]) -> Namespace:
    parser = options.get_generation_parser(default_task="translation_supertransformer")
    args = options.parse_args_and_arch(parser, input_args=translate_argv(argv))
    if not torch.cuda.is_available():
        if args.fp16:
            logger.warning("fp16 is ignored: it needs a CUDA GPU (generating in float32 on the CPU)")
        args.fp16, args.cpu = False, True
    args.user_dir = str(HAT_PACKAGE_DIR)
    return args


def generate(args: Namespace) -> None:
    """Run fairseq's generation with ``args`` (output to stdout or ``<results-path>/generate-<subset>.txt``)."""
    fairseq_generate.main(convert_namespace_to_omegaconf(args))


def main(argv: Optional[Sequence[str]] = None) -> int:
    generate(parse_args(sys.argv[1:] if argv is None else argv))
    return 0
