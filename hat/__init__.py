"""hat: Hardware-Aware Transformers (Wang et al., ACL 2020) as a fairseq plugin.

Importing the package registers the ``transformersuper`` model and its architectures with fairseq
(``--user-dir hat`` does the same for the stock command-line tools).
"""
from .checkpoint import CheckpointError, install_fairseq_compat
from .models.transformer_super import TransformerSuperModel
from .tasks.translation_supertransformer import TranslationSuperTransformerTask
from .search_space import ConfigError, SearchSpace, config_features, read_subtransformer_yaml, write_subtransformer_yaml

install_fairseq_compat()

from .loading import load_supertransformer  # noqa: E402
from .subtransformer import extract_subtransformer  # noqa: E402

__all__ = [
    "CheckpointError", "ConfigError", "SearchSpace", "TransformerSuperModel", "TranslationSuperTransformerTask", "config_features",
    "extract_subtransformer", "load_supertransformer", "read_subtransformer_yaml", "write_subtransformer_yaml",
]
__version__ = "0.1.0"
