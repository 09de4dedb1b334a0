"""matplotlib for the figures every part of hat writes (search plots, results pages): files only, quiet."""
from __future__ import annotations

import logging


def pyplot():
    """matplotlib's pyplot, drawing to files only (Agg). Its loggers stay at WARNING: fairseq's command-line tools
    configure the root logger at DEBUG, which would print every font lookup."""
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
