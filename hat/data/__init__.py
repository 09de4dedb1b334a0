"""Corpora: a synthetic translation task the project generates itself, Multi30k and the paper tasks'
preparation, and binarisation with fairseq."""
from ..errors import DataError

__all__ = ["DataError"]
