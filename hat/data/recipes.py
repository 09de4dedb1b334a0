"""How the original prepares each paper task's corpus (``configs/<task>/preprocess.sh``), as data.

Each :class:`Recipe` names the files to download, where the parallel sentences sit inside them, the
Moses steps, the BPE size, the cleaning and the ``fairseq-preprocess`` flags, as in the original's
``configs/<task>/preprocess.sh``; :mod:`hat.data.preprocess` carries a recipe out.

Differences from the original scripts, all deliberate: WMT'19's ``--tgtdict`` points at the dictionary
it downloaded (the original passes a path in the En-Fr folder and fails); WMT'19's unused ``test.tgz``
is not downloaded; Dropbox links use ``?dl=1`` (the original's ``?dl=0`` returns an HTML page).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


@dataclass(frozen=True)
class Source:
    """A file to download into the task's ``orig/`` folder."""

    url: str
    file: str


@dataclass(frozen=True)
class Corpus:
    """Sentences of one language inside a source: ``member`` (``{lang}``, ``{side}`` = ``src``/``ref``
    filled in) inside the extracted archive ``source``, or the source file itself when ``member`` is empty;
    ``columns`` picks a TSV column per language; ``kind`` is ``plain``, ``sgm`` (``<seg id>`` lines) or
    ``tags`` (IWSLT's ``train.tags``: metadata lines dropped, title/description tags removed)."""

    source: str
    member: str = ""
    kind: str = "plain"
    columns: Optional[dict] = None


@dataclass(frozen=True)
class Recipe:
    task: str
    name: str
    """``data/binary/<name>`` and ``data/text/<name>``."""
    src: str
    tgt: str
    sources: tuple
    train: tuple = ()
    valid: Union[int, tuple] = ()
    """Every ``valid``-th training line is held out, or these corpora."""
    test: tuple = ()
    normalize: bool = False
    aggressive_dash: bool = False
    lowercase: bool = False
    bpe_merges: int = 0
    clean: tuple = ()
    """``(ratio, min, max)`` of ``clean-corpus-n``."""
    clean_before_bpe: bool = False
    """IWSLT cleans the tokenised training text (before BPE); WMT cleans train and valid after BPE."""
    dictionary: Optional[Source] = None
    """The released target dictionary, so that re-preprocessing reproduces the released binarised data."""
    pretokenized: dict = field(default_factory=dict)
    """WMT'14 En-De: ``{split: prefix}`` of already tokenised + BPE files inside the archive."""
    joined_dictionary: bool = True
    preprocess_flags: tuple = ()


def _statmt_sgm(source: str, member: str) -> Corpus:
    return Corpus(source, member, kind="sgm")


WMT_TEXT_STEPS = dict(normalize=True, aggressive_dash=True, bpe_merges=40000, clean=(1.5, 1, 250))
"""WMT'14 En-Fr and WMT'19 En-De: normalise, tokenise with ``-a``, BPE 40k, clean train/valid after BPE."""

RECIPES = {r.task: r for r in (
    Recipe(
        task="wmt14.en-de", name="wmt16_en_de", src="en", tgt="de",
        sources=(Source("https://drive.usercontent.google.com/download?id=0B_bZck-ksdkpM25jRUN2X2UxMm8&export=download"
                        "&confirm=t", "wmt16_en_de.tar.gz"),),
        pretokenized={"train": "train.tok.clean.bpe.32000", "valid": "newstest2013.tok.bpe.32000",
                      "test": "newstest2014.tok.bpe.32000"},
        preprocess_flags=("--nwordssrc", "32768", "--nwordstgt", "32768")),
    Recipe(
        task="wmt14.en-fr", name="wmt14_en_fr", src="en", tgt="fr",
        sources=(Source("http://statmt.org/wmt13/training-parallel-europarl-v7.tgz", "training-parallel-europarl-v7.tgz"),
                 Source("http://statmt.org/wmt13/training-parallel-commoncrawl.tgz", "training-parallel-commoncrawl.tgz"),
                 Source("http://statmt.org/wmt13/training-parallel-un.tgz", "training-parallel-un.tgz"),
                 Source("http://statmt.org/wmt14/training-parallel-nc-v9.tgz", "training-parallel-nc-v9.tgz"),
                 Source("http://statmt.org/wmt10/training-giga-fren.tar", "training-giga-fren.tar"),
                 Source("http://statmt.org/wmt14/test-full.tgz", "test-full.tgz")),
        train=(Corpus("training-parallel-europarl-v7.tgz", "training/europarl-v7.fr-en.{lang}"),
               Corpus("training-parallel-commoncrawl.tgz", "commoncrawl.fr-en.{lang}"),
               Corpus("training-parallel-un.tgz", "un/undoc.2000.fr-en.{lang}"),
               Corpus("training-parallel-nc-v9.tgz", "training/news-commentary-v9.fr-en.{lang}"),
               Corpus("training-giga-fren.tar", "giga-fren.release2.fixed.{lang}.gz")),
        valid=1333,
        test=(_statmt_sgm("test-full.tgz", "test-full/newstest2014-fren-{side}.{lang}.sgm"),),
        **WMT_TEXT_STEPS,
        dictionary=Source("https://www.dropbox.com/s/sgx2z11oo5mgube/wmt14enfr_dict.txt?dl=1", "wmt14enfr_dict.txt"),
        preprocess_flags=("--thresholdtgt", "0", "--thresholdsrc", "0")),
    Recipe(
        task="wmt19.en-de", name="wmt19_en_de", src="en", tgt="de",
        sources=(Source("http://www.statmt.org/europarl/v9/training/europarl-v9.de-en.tsv.gz", "europarl-v9.de-en.tsv.gz"),
                 Source("https://s3.amazonaws.com/web-language-models/paracrawl/release3/en-de.bicleaner07.txt.gz",
                        "en-de.bicleaner07.txt.gz"),
                 Source("http://www.statmt.org/wmt13/training-parallel-commoncrawl.tgz", "training-parallel-commoncrawl.tgz"),
                 Source("http://data.statmt.org/news-commentary/v14/training/news-commentary-v14.de-en.tsv.gz",
                        "news-commentary-v14.de-en.tsv.gz"),
                 Source("http://data.statmt.org/wikititles/v1/wikititles-v1.de-en.tsv.gz", "wikititles-v1.de-en.tsv.gz"),
                 Source("https://s3-eu-west-1.amazonaws.com/tilde-model/rapid2019.de-en.zip", "rapid2019.de-en.zip"),
                 Source("http://data.statmt.org/wmt19/translation-task/dev.tgz", "dev.tgz")),
        train=(Corpus("en-de.bicleaner07.txt.gz", columns={"en": 0, "de": 1}),
               Corpus("news-commentary-v14.de-en.tsv.gz", columns={"de": 0, "en": 1}),
               Corpus("wikititles-v1.de-en.tsv.gz", columns={"de": 0, "en": 1}),
               Corpus("europarl-v9.de-en.tsv.gz", columns={"de": 0, "en": 1}),
               Corpus("training-parallel-commoncrawl.tgz", "commoncrawl.de-en.{lang}"),
               Corpus("rapid2019.de-en.zip", "rapid2019.de-en.{lang}")),
        valid=(_statmt_sgm("dev.tgz", "dev/newstest2017-ende-{side}.{lang}.sgm"),),
        test=(_statmt_sgm("dev.tgz", "dev/newstest2018-ende-{side}.{lang}.sgm"),),
        **WMT_TEXT_STEPS,
        dictionary=Source("https://www.dropbox.com/s/u9h8ns6xe8ux91d/wmt19ende_dict.txt?dl=1", "wmt19ende_dict.txt"),
        preprocess_flags=("--thresholdtgt", "1", "--thresholdsrc", "1")),
    Recipe(
        task="iwslt14.de-en", name="iwslt14_de_en", src="de", tgt="en",
        sources=(Source("https://wit3.fbk.eu/archive/2014-01/texts/de/en/de-en.tgz", "de-en.tgz"),),
        train=(Corpus("de-en.tgz", "de-en/train.tags.de-en.{lang}", kind="tags"),),
        valid=23,
        test=tuple(Corpus("de-en.tgz", f"de-en/IWSLT14.{name}.de-en.{{lang}}.xml", kind="sgm")
                   for name in ("TED.dev2010", "TEDX.dev2012", "TED.tst2010", "TED.tst2011", "TED.tst2012")),
        lowercase=True, bpe_merges=10000, clean=(1.5, 1, 175), clean_before_bpe=True, joined_dictionary=False),
)}
