"""Original HAT YAML config files -> fairseq arguments (reference 1.2).

Files are read with configargparse's ``key: value`` reader, as the original: each key is a flag name
without ``--``, ``[a, b]`` is a multi-value argument, ``True`` switches a flag on and a false value
leaves it off, ``#`` starts a comment, and ``data:`` is the translation data folder. The command line
overrides the files; a key that no flag knows is an error naming the key and its file.
"""
import argparse
import itertools
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import configargparse
from fairseq import options

from .search_space import ConfigError

TRUE_VALUES = {"true", "yes"}
FALSE_VALUES = {"false", "no"}


def read_config_file(path: str) -> "OrderedDict[str, object]":
    """The ``key: value`` items of one config file, as configargparse reads them."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file not found: {path}")
    with open(file) as stream:
        try:
            return configargparse.DefaultConfigFileParser().parse(stream)
        except configargparse.ConfigFileParserException as exc:
            raise ConfigError(f"{path}: {exc}") from None


def translate_legacy_items(items: Dict[str, object]) -> "OrderedDict[str, object]":
    """Map fairseq-0.8 keys of the original configs to today's fairseq.

    The 0.8 cosine schedule took ``max-lr`` (peak) and ``lr`` (floor); today's takes ``lr`` (peak) and
    ``min-lr`` (floor). Same schedule, renamed.
    """
    items = OrderedDict(items)
    if "max-lr" in items:
        floor = items.pop("lr", None)
        items["lr"] = items.pop("max-lr")
        if floor is not None:
            items["min-lr"] = floor
    return items


def config_items_to_argv(items: Dict[str, object]) -> Tuple[List[str], List[str]]:
    """Command-line words for config items: ``(positional data words, flag words)``."""
    positional, flags = [], []
    for key, value in items.items():
        if key == "data":
            positional.append(str(value))
        elif isinstance(value, list):
            flags += [f"--{key}", *map(str, value)]
        elif str(value).lower() in TRUE_VALUES:
            flags.append(f"--{key}")
        elif str(value).lower() in FALSE_VALUES:
            continue
        else:
            flags += [f"--{key}", str(value)]
    return positional, flags


def split_config_flags(argv: Sequence[str], config_flags: Sequence[str]) -> Tuple[Dict[str, Optional[str]], List[str]]:
    pre = argparse.ArgumentParser(add_help=False)
    for flag in config_flags:
        pre.add_argument(flag)
    known, rest = pre.parse_known_args(list(argv))
    return {flag: getattr(known, flag.lstrip("-").replace("-", "_")) for flag in config_flags}, rest


def _data_from_cli(rest: List[str]) -> Tuple[List[str], List[str]]:
    """Accept the original's ``--data DIR`` flag on the command line (fairseq takes it positionally)."""
    if "--data" in rest:
        i = rest.index("--data")
        return rest[i + 1:i + 2], rest[:i] + rest[i + 2:]
    return [], rest


def parse_config_args(parser: argparse.ArgumentParser, argv: Sequence[str],
                      config_flags: Sequence[str] = ("--configs", "--sub-configs"),
                      default_data: Optional[str] = None,
                      modify_parser: Optional[Callable[[argparse.ArgumentParser], None]] = None) -> argparse.Namespace:
    """Parse ``argv`` plus the config files it names, with fairseq's two-stage arch/task parsing."""
    paths, rest = split_config_flags(argv, config_flags)
    file_words: List[Tuple[str, List[str]]] = []
    positional: List[str] = []
    for flag in config_flags:
        if paths[flag]:
            data, words = config_items_to_argv(translate_legacy_items(read_config_file(paths[flag])))
            positional += data
            file_words.append((paths[flag], words))
    cli_data, rest = _data_from_cli(rest)
    leading = list(itertools.takewhile(lambda word: not word.startswith("-"), rest))  # DATA given positionally
    rest = rest[len(leading):]
    positional = cli_data or leading or positional[-1:] or ([default_data] if default_data else [])
    input_args = positional + [w for _, words in file_words for w in words] + rest
    for flag in config_flags:
        if paths[flag]:
            input_args += [flag, paths[flag]]
    args, extra = options.parse_args_and_arch(parser, input_args=input_args, parse_known=True,
                                              modify_parser=modify_parser)
    unknown = [w for w in extra if w.startswith("--")]
    if unknown or extra:
        for path, words in file_words:
            bad = [w for w in unknown if w in words]
            if bad:
                raise ConfigError(f"unknown key '{bad[0][2:]}' in {path}")
        raise ConfigError(f"unrecognized arguments: {' '.join(extra)}")
    return args


def add_config_flags(parser: argparse.ArgumentParser, config_flags: Sequence[str]) -> None:
    """Register the config-file flags (``--configs`` ...) so fairseq's parser accepts them."""
    group = parser.add_argument_group("HAT config files")
    for flag in config_flags:
        group.add_argument(flag, metavar="YML", help="original HAT YAML config file")
