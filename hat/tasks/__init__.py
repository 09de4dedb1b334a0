from . import translation_supertransformer  # noqa: F401  (registers the task)
