"""Corpora: a synthetic translation task the project generates itself, and binarisation with fairseq."""
