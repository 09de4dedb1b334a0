"""Original HAT YAML config files -> fairseq arguments (read as the original's ``get_parser`` in ``fairseq/options.py``
reads them, with configargparse).

Files are read with configargparse's ``key: value`` reader, as the original: each key is a flag name
without ``--``, ``[a, b]`` is a multi-value argument, ``True`` switches a flag on and a false value
leaves it off, ``#`` starts a comment, and ``data:`` is the translation data folder. The command line
overrides the files; a key that no flag knows is an error naming the key and its file.
"""
import argparse
import io
import itertools
import re
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import configargparse
from fairseq import options

from .search_space import ConfigError

TRUE_VALUES = {"true", "yes"}
FALSE_VALUES = {"false", "no"}


# One line of a config file as configargparse's ``DefaultConfigFileParser.parse`` splits it (its own pattern).
_CONFIG_LINE = re.compile(r"^(?P<key>[^:=;#\s]+)\s*"
                          r"(?:(?P<equal>[:=\s])\s*([\'\"]?)(?P<value>.+?)?\3)?"
                          r"\s*(?:\s[;#]\s*(?P<comment>.*?)\s*)?$")


def _value_syntax_error(value: str) -> Optional[str]:
    """What is wrong with a value that configargparse would silently read as a string, if anything."""
    if value.count("[") != value.count("]") or value.startswith("[") != value.endswith("]"):
        what = "the '[' is never closed" if value.startswith("[") and not value.endswith("]") else "unbalanced [ ]"
        return f"{what} in {value!r} (a list is written [a, b] on one line)"
    if value[:1] in "'\"" and (len(value) < 2 or value[-1] != value[0]):
        return f"the quote {value[0]} is never closed in {value}"
    return None


def check_config_syntax(path: str, text: str) -> None:
    """Raise a ConfigError naming the file, line number and key of the first line configargparse would misread.

    configargparse reads ``key: [96, 64`` (bracket missing) as the string ``'[96, 64'``, which the
    argument parser later rejects with its whole usage text and no file name; such a line, an
    unclosed quote, or a line that is no ``key: value`` at all is reported here instead.
    """
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;[" or line.startswith("---"):  # what configargparse skips
            continue
        match = _CONFIG_LINE.match(line)
        if match is None:
            raise ConfigError(f"{path}, line {number}: not a 'key: value' line: {line}")
        value = match.group("value")
        problem = _value_syntax_error(value) if value else None
        if problem:
            raise ConfigError(f"{path}, line {number}: {match.group('key')}: {problem}")


def config_file_text(items: Mapping[str, object]) -> str:
    """``key: value`` lines (lists as ``[a, b]``) that :func:`read_config_file` reads back as ``items``."""
    return "".join(f"{k}: [{', '.join(map(str, v))}]\n" if isinstance(v, list) else f"{k}: {v}\n" for k, v in items.items())


def read_config_file(path: str) -> "OrderedDict[str, object]":
    """The ``key: value`` items of one config file, as configargparse reads them; a syntax error is one
    ConfigError naming the file, the line and the key (:func:`check_config_syntax`)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = file.read_text()
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text config file") from None
    check_config_syntax(path, text)
    try:
        return configargparse.DefaultConfigFileParser().parse(io.StringIO(text))
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
