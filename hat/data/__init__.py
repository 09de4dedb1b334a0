"""Corpora: a synthetic translation task the project generates itself, Multi30k and the paper tasks'
preparation, and binarisation with fairseq."""


class DataError(ValueError):
    """Raw data missing or not as expected, or a preprocessing step failed; the message says which."""
