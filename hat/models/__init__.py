from . import transformer_super  # noqa: F401  (registers the model)
