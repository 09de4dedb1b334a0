"""hat: Hardware-Aware Transformers (Wang et al., ACL 2020) as a fairseq plugin.

Importing the package registers the ``transformersuper`` model and its architectures with fairseq
(``--user-dir hat`` does the same for the stock command-line tools).
"""
import logging
import warnings


class _NoOptionalDependencyNotes(logging.Filter):
    """fairseq's speech tasks, imported with every fairseq task, log a tensorboardX hint at import."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "tensorboardX" not in record.getMessage()


logging.getLogger("fairseq.tasks.text_to_speech").addFilter(_NoOptionalDependencyNotes())

# Deprecation notices of fairseq's dependencies that fairseq triggers at every run (its Hydra config
# composition, its autocast call, a DataLoader option without a GPU): not ours to fix, and not the user's.
for _message in (r"\s*The version_base parameter is not specified", r"hydra\.experimental\.\w+\(\) is no longer",
                 r"In 'config': Usage of deprecated keyword in package header",
                 r"\s*'config' is validated against ConfigStore schema", r"\s*The strict flag in the compose API",
                 r"'pin_memory' argument is set as true but no accelerator", r"`torch\.cuda\.amp\.autocast\(args\.\.\.\)`"):
    warnings.filterwarnings("ignore", message=_message)

from .checkpoint import CheckpointError, install_fairseq_compat  # noqa: E402
from .models.transformer_super import TransformerSuperModel  # noqa: E402
from .tasks.translation_supertransformer import TranslationSuperTransformerTask  # noqa: E402
from .search_space import (ConfigError, SearchSpace, config_features, read_subtransformer_yaml,  # noqa: E402
                           write_subtransformer_yaml)

install_fairseq_compat()

from .loading import load_supertransformer  # noqa: E402
from .subtransformer import extract_subtransformer  # noqa: E402

__all__ = [
    "CheckpointError", "ConfigError", "SearchSpace", "TransformerSuperModel", "TranslationSuperTransformerTask", "config_features",
    "extract_subtransformer", "load_supertransformer", "read_subtransformer_yaml", "write_subtransformer_yaml",
]
__version__ = "0.1.0"
