"""The SubTransformer config schema of HAT: search space, validation, sampling, genes, features, YAML.

This is the single place that defines what a SubTransformer config is. A config is the original's
nested dict (as the original's ``sample_configs`` in ``fairseq/utils.py`` returns it)::

    {'encoder': {'encoder_embed_dim': int, 'encoder_layer_num': int,
                 'encoder_ffn_embed_dim': [int, ...], 'encoder_self_attention_heads': [int, ...]},
     'decoder': {'decoder_embed_dim': int, 'decoder_layer_num': int,
                 'decoder_ffn_embed_dim': [int, ...], 'decoder_self_attention_heads': [int, ...],
                 'decoder_ende_attention_heads': [int, ...], 'decoder_arbitrary_ende_attn': [int, ...]}}

Per-layer lists may be longer than the sampled layer count; only the first ``N_e`` / ``N_d`` entries
are used. The module is pure Python (plus ``yaml``): no torch or fairseq.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, SimpleNamespace
from typing import Any

import yaml

from .io import write_text_atomic
from .errors import ConfigError

__all__ = [
    "ConfigError",
    "SubTransformerConfig",
    "SearchSpace",
    "FEATURE_NAMES",
    "SUBTRANSFORMER_KEYS",
    "ARBITRARY_ENDE_ATTN_VALUES",
    "check_fits",
    "check_fits_model",
    "check_choices",
    "check_trained_space",
    "trained_space",
    "OFF_SPACE_FLAG",
    "yaml_label",
    "active_config",
    "config_features",
    "config_from_args",
    "read_subtransformer_yaml",
    "write_subtransformer_yaml",
    "format_subtransformer_yaml",
    "choice_flag_defaults",
]



SubTransformerConfig = dict
"""The original nested config dict: ``{'encoder': {...}, 'decoder': {...}}``."""

PARTS = ("encoder", "decoder")

ARBITRARY_ENDE_ATTN_VALUES = (-1, 1, 2)
"""Legal ``decoder_arbitrary_ende_attn`` values (the original's ``TransformerDecoder.extract_features`` in
``fairseq/models/transformer_super.py`` accepts no other)."""

# Latency feature 10 encodes an arbitrary-attention value as the number of attended encoder layers.
_ATTENDED_ENCODER_LAYERS = {-1: 1, 1: 2, 2: 3}


@dataclass(frozen=True)
class _Field:
    """One key of the config dict, with the SearchSpace attributes that constrain it."""

    name: str  # key inside config['encoder'] / config['decoder']
    choice_attr: str  # SearchSpace attribute holding its choice list
    per_layer: bool  # a list with one entry per layer, else a single int
    limit: str | None = None  # super dimension (SearchSpace / args attribute) that bounds its values
    heads: bool = False  # a head count: every choice must divide qkv_dim
    default: tuple[int, ...] = ()  # default of its ``--*-choice`` flag (the original's)

    @property
    def part(self) -> str:
        return self.name.split("_", 1)[0]

    @property
    def arbitrary(self) -> bool:
        return self.name == "decoder_arbitrary_ende_attn"

    @property
    def yaml_key(self) -> str:
        return self.name.replace("_", "-") + ("-all" if self.per_layer else "") + "-subtransformer"


# The schema, in config-dict order, which is also the gene order (the original's ``Converter.config2gene`` in
# ``fairseq/evolution.py``) and the feature order (its ``get_config_features`` in ``fairseq/utils.py``).
# Defaults of the ``--*-choice`` flags are the original's (``TransformerSuperModel.add_args``).
_FIELDS = (
    _Field("encoder_embed_dim", "encoder_embed_choice", False, limit="encoder_embed_dim", default=(512, 256, 128)),
    _Field("encoder_layer_num", "encoder_layer_num_choice", False, limit="encoder_layers", default=(7, 6, 5, 4, 3, 2)),
    _Field("encoder_ffn_embed_dim", "encoder_ffn_embed_dim_choice", True, limit="encoder_ffn_embed_dim",
           default=(4096, 3072, 2048, 1024)),
    _Field("encoder_self_attention_heads", "encoder_self_attention_heads_choice", True, heads=True,
           default=(16, 8, 4, 2, 1)),
    _Field("decoder_embed_dim", "decoder_embed_choice", False, limit="decoder_embed_dim", default=(512, 256, 128)),
    _Field("decoder_layer_num", "decoder_layer_num_choice", False, limit="decoder_layers", default=(7, 6, 5, 4, 3, 2)),
    _Field("decoder_ffn_embed_dim", "decoder_ffn_embed_dim_choice", True, limit="decoder_ffn_embed_dim",
           default=(4096, 3072, 2048, 1024)),
    _Field("decoder_self_attention_heads", "decoder_self_attention_heads_choice", True, heads=True,
           default=(16, 8, 4, 2, 1)),
    _Field("decoder_ende_attention_heads", "decoder_ende_attention_heads_choice", True, heads=True,
           default=(16, 8, 4, 2, 1)),
    _Field("decoder_arbitrary_ende_attn", "decoder_arbitrary_ende_attn_choice", True,
           default=ARBITRARY_ENDE_ATTN_VALUES),
)
_FIELD_BY_NAME = {field.name: field for field in _FIELDS}

FEATURE_NAMES: tuple[str, ...] = tuple(f.name + ("_avg" if f.per_layer else "") for f in _FIELDS)
"""Names of the 10 latency-predictor features (the original's ``get_feature_info`` in ``fairseq/utils.py``: the
CSV header of its latency datasets), in order."""

# Layout of a SubTransformer YAML file (as the original's ``evo_search.py`` writes ``--write-config-path``): groups
# of keys, each group followed by a blank line.
_YAML_LAYOUT = (
    ("encoder_embed_dim", "decoder_embed_dim"),
    ("encoder_ffn_embed_dim", "decoder_ffn_embed_dim"),
    ("encoder_layer_num", "decoder_layer_num"),
    ("encoder_self_attention_heads", "decoder_self_attention_heads", "decoder_ende_attention_heads"),
    ("decoder_arbitrary_ende_attn",),
)

SUBTRANSFORMER_KEYS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {_FIELD_BY_NAME[name].yaml_key: (_FIELD_BY_NAME[name].part, name) for group in _YAML_LAYOUT for name in group}
)
"""YAML key / CLI flag name -> ``(part, field)`` of the config dict, in file order.

E.g. ``'encoder-embed-dim-subtransformer' -> ('encoder', 'encoder_embed_dim')``.
"""


def choice_flag_defaults() -> dict[str, list[int]]:
    """The search-space flags and their defaults, by flag name (``'--encoder-embed-choice': [512, 256, 128]``, ...).

    In the order of the original's parser: the encoder and decoder flag of each kind together.
    """
    def position(field: _Field) -> tuple[int, int]:
        same_part = [f for f in _FIELDS if f.part == field.part]
        return same_part.index(field), PARTS.index(field.part)

    return {"--" + _cli(field.choice_attr): list(field.default) for field in sorted(_FIELDS, key=position)}


# The SuperTransformer dimensions that bound a config (argparse attribute names).
_SUPER_DIMS = (
    "encoder_layers",
    "decoder_layers",
    "qkv_dim",
    "encoder_embed_dim",
    "decoder_embed_dim",
    "encoder_ffn_embed_dim",
    "decoder_ffn_embed_dim",
)


def _cli(attr: str) -> str:
    """CLI / YAML spelling of an argparse attribute name."""
    return attr.replace("_", "-")


def _layer_num_key(part: str) -> str:
    return f"{part}_layer_num"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_value(label: str, value: Any, arbitrary: bool = False) -> int:
    """Return ``value`` as an int; it must be positive, or one of -1, 1, 2 if ``arbitrary``."""
    if not _is_int(value):
        raise ConfigError(f"{label}={value!r} is not an integer")
    value = int(value)
    if arbitrary and value not in ARBITRARY_ENDE_ATTN_VALUES:
        raise ConfigError(f"{label}={value} is not one of {', '.join(map(str, ARBITRARY_ENDE_ATTN_VALUES))}")
    if not arbitrary and value < 1:
        raise ConfigError(f"{label}={value} must be a positive integer")
    return value


def _int_list(label: str, values: Any, arbitrary: bool = False) -> list[int]:
    """Return ``values`` (a non-empty list or tuple) as a list of checked ints."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"{label}={values!r} is not a non-empty list of integers")
    return [_check_value(f"{label}[{i}]", value, arbitrary) for i, value in enumerate(values)]


def _attrs_from_args(args: Any, attrs: Sequence[str]) -> dict[str, Any]:
    """Read ``attrs`` from an argparse Namespace; ``qkv_dim`` None means ``encoder_embed_dim`` (original default)."""
    missing = [attr for attr in attrs if attr != "qkv_dim" and getattr(args, attr, None) is None]
    if missing:
        raise ConfigError("missing arguments: " + ", ".join("--" + _cli(attr) for attr in missing))
    values = {attr: getattr(args, attr, None) for attr in attrs}
    if values["qkv_dim"] is None:
        values["qkv_dim"] = values["encoder_embed_dim"]
    return values


def _check_fits(label: str, value: int, field: _Field, dims: Any) -> None:
    """Raise unless ``value`` of ``field`` fits the super dimensions ``dims`` (has the _SUPER_DIMS attributes)."""
    if field.limit is not None and value > getattr(dims, field.limit):
        raise ConfigError(f"{label}={value} exceeds {_cli(field.limit)} {getattr(dims, field.limit)}")
    if field.heads and dims.qkv_dim % value:
        raise ConfigError(f"{label}={value} does not divide qkv-dim {dims.qkv_dim}")
    if field.arbitrary and _ATTENDED_ENCODER_LAYERS[value] > dims.encoder_layers:
        raise ConfigError(f"{label}={value} attends {_ATTENDED_ENCODER_LAYERS[value]} encoder layers, "
                          f"but encoder-layers is {dims.encoder_layers}")


def _normalise(config: Any, label: Callable[[str], str] = str) -> SubTransformerConfig:
    """Check the structure of a config independently of any search space and return a normalised copy.

    Checks: both parts with exactly their keys, ints (positive, arbitrary values in -1/1/2), per-layer
    lists at least as long as the part's layer count. ``label`` maps a field name to the name used in
    error messages (e.g. the YAML key).
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"a SubTransformer config must be a dict with 'encoder' and 'decoder', got {config!r}")
    result: SubTransformerConfig = {}
    for part in PARTS:
        section = config.get(part)
        if not isinstance(section, Mapping):
            raise ConfigError(f"config[{part!r}] is missing or not a dict")
        fields = [field for field in _FIELDS if field.part == part]
        unknown = sorted(set(section) - {field.name for field in fields}, key=str)
        if unknown:
            raise ConfigError(f"config[{part!r}] has unknown key(s) {unknown}")
        result[part] = {}
        for field in fields:
            if field.name not in section:
                raise ConfigError(f"config[{part!r}] is missing key {label(field.name)!r}")
            value = section[field.name]
            result[part][field.name] = (
                _int_list(label(field.name), value, field.arbitrary)
                if field.per_layer
                else _check_value(label(field.name), value)
            )
    for field in _FIELDS:
        section = result[field.part]
        layer_num = section[_layer_num_key(field.part)]
        if field.per_layer and len(section[field.name]) < layer_num:
            raise ConfigError(
                f"{label(field.name)} has {len(section[field.name])} entries, "
                f"fewer than {label(_layer_num_key(field.part))}={layer_num}"
            )
    return result


def _entries(config: SubTransformerConfig, field: _Field, super_layers: int | None,
             label: Callable[[str], str] = str) -> list[tuple[str, int]]:
    """``(label, value)`` of every value of ``field``; a per-layer list may not exceed ``super_layers`` (None: no
    limit). ``label`` maps a field name to the name used in error messages."""
    value = config[field.part][field.name]
    if not field.per_layer:
        return [(label(field.name), value)]
    if super_layers is not None and len(value) > super_layers:
        raise ConfigError(f"{label(field.name)} has {len(value)} entries, more than {field.part}-layers {super_layers}")
    return [(f"{label(field.name)}[{i}]", v) for i, v in enumerate(value)]


def yaml_label(name: str) -> str:
    """The YAML key / ``--`` flag name (without ``--``) of a config field, for error messages about a SubTransformer
    YAML file (``'encoder_embed_dim'`` -> ``'encoder-embed-dim-subtransformer'``)."""
    return _FIELD_BY_NAME[name].yaml_key


def _check_in_choices(config: SubTransformerConfig, choices: Mapping[str, Sequence[int]],
                      label: Callable[[str], str]) -> None:
    """Raise unless every value of the normalised ``config`` is in its field's list of ``choices`` (by choice key,
    ``'encoder-embed-choice'``); a field without a list is not checked."""
    for field in _FIELDS:
        allowed = choices.get(_cli(field.choice_attr))
        if allowed is None:
            continue
        for name, value in _entries(config, field, None, label):
            if value not in allowed:
                raise ConfigError(f"{name}={value} is not in {_cli(field.choice_attr)} {list(allowed)}")


def _active(config: SubTransformerConfig, field: _Field) -> Any:
    """The value of ``field``; for a per-layer field only the entries of the first N (sampled) layers."""
    section = config[field.part]
    value = section[field.name]
    return value[: section[_layer_num_key(field.part)]] if field.per_layer else value


@dataclass(frozen=True)
class SearchSpace:
    """The SuperTransformer search space: choice lists plus the super dimensions they must fit in.

    Construct directly (lists are accepted and stored as tuples) or with :meth:`from_args`. The
    constructor validates the space itself and raises :class:`ConfigError` naming the CLI key.
    """

    encoder_embed_choice: tuple[int, ...]
    decoder_embed_choice: tuple[int, ...]
    encoder_layer_num_choice: tuple[int, ...]
    decoder_layer_num_choice: tuple[int, ...]
    encoder_ffn_embed_dim_choice: tuple[int, ...]
    decoder_ffn_embed_dim_choice: tuple[int, ...]
    encoder_self_attention_heads_choice: tuple[int, ...]
    decoder_self_attention_heads_choice: tuple[int, ...]
    decoder_ende_attention_heads_choice: tuple[int, ...]
    decoder_arbitrary_ende_attn_choice: tuple[int, ...]
    encoder_layers: int
    decoder_layers: int
    qkv_dim: int
    encoder_embed_dim: int
    decoder_embed_dim: int
    encoder_ffn_embed_dim: int
    decoder_ffn_embed_dim: int

    def __post_init__(self) -> None:
        for attr in _SUPER_DIMS:
            object.__setattr__(self, attr, _check_value(_cli(attr), getattr(self, attr)))
        for field in _FIELDS:
            key = _cli(field.choice_attr)
            choices = tuple(_int_list(key, getattr(self, field.choice_attr), field.arbitrary))
            object.__setattr__(self, field.choice_attr, choices)
            for i, value in enumerate(choices):
                _check_fits(f"{key}[{i}]", value, field, self)

    @classmethod
    def from_args(cls, args: Any) -> SearchSpace:
        """Build the space from an argparse Namespace with the original attribute names.

        ``args.qkv_dim`` may be None (the original default), meaning ``args.encoder_embed_dim``.
        """
        return cls(**_attrs_from_args(args, [f.name for f in dataclasses.fields(cls)]))

    def super_dims(self) -> dict[str, int]:
        """The SuperTransformer dimensions the space lives in, by YAML key (``'encoder-embed-dim': 640``, ...)."""
        return {_cli(attr): getattr(self, attr) for attr in _SUPER_DIMS}

    def choice_lists(self) -> dict[str, tuple[int, ...]]:
        """The choice list of every field, by YAML key (``'encoder-embed-choice': (640, 512)``, ...)."""
        return {_cli(field.choice_attr): getattr(self, field.choice_attr) for field in _FIELDS}

    def _super_layers(self, field: _Field) -> int:
        return getattr(self, f"{field.part}_layers")

    def _gene_slots(self) -> list[tuple[_Field, int | None, tuple[int, ...]]]:
        """One ``(field, layer index or None, choices)`` per gene position, in gene order (the original's
        ``Converter.get_gene_choice``)."""
        slots: list[tuple[_Field, int | None, tuple[int, ...]]] = []
        for field in _FIELDS:
            choices = getattr(self, field.choice_attr)
            if field.per_layer:
                slots += [(field, i, choices) for i in range(self._super_layers(field))]
            else:
                slots.append((field, None, choices))
        return slots

    def uniform_layers(self, gene: Sequence[int]) -> tuple[int, ...]:
        """``gene`` with every layer's FFN dim and head counts set to its first layer's (one FFN dim and one head
        count per stack and kind of attention: uniform layers, the design-space ablation's); arbitrary
        encoder-decoder attention stays per layer."""
        first: dict[str, int] = {}
        uniform = []
        for value, (field, i, _) in zip(gene, self._gene_slots()):
            if i is not None and not field.arbitrary:
                value = first.setdefault(field.name, value)  # layer 0 comes first in the gene
            uniform.append(value)
        return tuple(uniform)

    def validate(self, config: Mapping[str, Any], label: Callable[[str], str] = str) -> SubTransformerConfig:
        """Check ``config`` against this space and return a normalised copy (ints, lists).

        Every value (also list entries beyond the sampled depth) must be in its choice list; per-layer
        lists need at least N_e / N_d entries and at most the super layer count. Raises ConfigError naming
        the key (``label`` maps a field name to it, e.g. :func:`yaml_label`), the value and the choices.
        """
        config = _normalise(config, label)
        for field in _FIELDS:
            _entries(config, field, self._super_layers(field), label)
        _check_in_choices(config, self.choice_lists(), label)
        return config

    def sample(self, seed: int) -> SubTransformerConfig:
        """The original training-time sampler (``sample_configs`` in ``fairseq/utils.py``), seeded with ``seed``
        (the update count, as the original's ``train.py``).

        Draw order: encoder/decoder embed dim, encoder/decoder layer num, per encoder layer (FFN, heads),
        per decoder layer (FFN, self heads, enc-dec heads), then N̂_d arbitrary values. Uses a local RNG.

        The result is canonical: every per-layer list has N_e / N_d entries. The original draws N̂_d arbitrary
        values (and returns them all); the draws are the same here, but the values of the layers beyond N_d,
        which no model reads, are dropped, so the active values (and the features) are the original's.
        """
        rng = random.Random(seed)
        encoder_embed_dim = rng.choice(self.encoder_embed_choice)
        decoder_embed_dim = rng.choice(self.decoder_embed_choice)
        encoder_layer_num = rng.choice(self.encoder_layer_num_choice)
        decoder_layer_num = rng.choice(self.decoder_layer_num_choice)
        encoder_layers = [
            (rng.choice(self.encoder_ffn_embed_dim_choice), rng.choice(self.encoder_self_attention_heads_choice))
            for _ in range(encoder_layer_num)
        ]
        decoder_layers = [
            (
                rng.choice(self.decoder_ffn_embed_dim_choice),
                rng.choice(self.decoder_self_attention_heads_choice),
                rng.choice(self.decoder_ende_attention_heads_choice),
            )
            for _ in range(decoder_layer_num)
        ]
        arbitrary = [rng.choice(self.decoder_arbitrary_ende_attn_choice) for _ in range(self.decoder_layers)]
        arbitrary = arbitrary[:decoder_layer_num]  # all N̂_d drawn as the original, only the active ones kept
        encoder_ffn, encoder_heads = (list(column) for column in zip(*encoder_layers))
        decoder_ffn, decoder_self, decoder_ende = (list(column) for column in zip(*decoder_layers))
        return {
            "encoder": {
                "encoder_embed_dim": encoder_embed_dim,
                "encoder_layer_num": encoder_layer_num,
                "encoder_ffn_embed_dim": encoder_ffn,
                "encoder_self_attention_heads": encoder_heads,
            },
            "decoder": {
                "decoder_embed_dim": decoder_embed_dim,
                "decoder_layer_num": decoder_layer_num,
                "decoder_ffn_embed_dim": decoder_ffn,
                "decoder_self_attention_heads": decoder_self,
                "decoder_ende_attention_heads": decoder_ende,
                "decoder_arbitrary_ende_attn": arbitrary,
            },
        }

    def _extreme(self, pick: Callable[[tuple[int, ...]], int]) -> SubTransformerConfig:
        """Every field set to ``pick(choices)``, lists of super length, arbitrary attention 1 everywhere (the
        original's ``get_represent_configs`` in ``fairseq/utils.py``)."""
        config: SubTransformerConfig = {part: {} for part in PARTS}
        for field in _FIELDS:
            value = 1 if field.arbitrary else pick(getattr(self, field.choice_attr))
            config[field.part][field.name] = [value] * self._super_layers(field) if field.per_layer else value
        return config

    def largest(self) -> SubTransformerConfig:
        """The original 'largest_arbitrary1' validation config (maxima, super-length lists, arbitrary 1)."""
        return self._extreme(max)

    def smallest(self) -> SubTransformerConfig:
        """The original 'smallest_arbitrary1' validation config (minima, super-length lists, arbitrary 1)."""
        return self._extreme(min)

    def gene_choices(self) -> list[tuple[int, ...]]:
        """The choice list of every gene position (the original's gene layout, length 2 + 2N̂_e + 2 + 4N̂_d)."""
        return [choices for _, _, choices in self._gene_slots()]

    def config_to_gene(self, config: Mapping[str, Any]) -> list[int]:
        """Encode a valid config as a gene; positions of inactive layers get the layer-0 value (as the original's
        ``Converter.config2gene``)."""
        config = self.validate(config)
        gene = []
        for field, i, _ in self._gene_slots():
            section = config[field.part]
            value = section[field.name]
            if i is None:
                gene.append(value)
            else:
                gene.append(value[i] if i < section[_layer_num_key(field.part)] else value[0])
        return gene

    def gene_to_config(self, gene: Sequence[int]) -> SubTransformerConfig:
        """Decode a gene into a config with full super-length per-layer lists. Raises ConfigError."""
        slots = self._gene_slots()
        if len(gene) != len(slots):
            raise ConfigError(f"gene has {len(gene)} positions, expected {len(slots)}")
        config: SubTransformerConfig = {part: {} for part in PARTS}
        for position, ((field, i, choices), value) in enumerate(zip(slots, gene)):
            if not _is_int(value) or value not in choices:
                label = field.name if i is None else f"{field.name}[{i}]"
                raise ConfigError(f"gene[{position}] ({label})={value!r} is not in {list(choices)}")
            section = config[field.part]
            if i is None:
                section[field.name] = int(value)
            else:
                section.setdefault(field.name, []).append(int(value))
        return config

    def random_gene(self, rng: random.Random) -> list[int]:
        """A gene with every position drawn uniformly from its choices using ``rng``."""
        return [rng.choice(choices) for choices in self.gene_choices()]


def check_fits(config: Mapping[str, Any], args: Any) -> SubTransformerConfig:
    """Check that ``config`` can run in a SuperTransformer with the dimensions of ``args``; return it normalised.

    Unlike :meth:`SearchSpace.validate` this ignores the choice lists (in SubTransformer mode they are
    the parser defaults): embed / FFN sizes and layer counts may not exceed the super dimensions
    (``args.encoder_embed_dim`` ... ``args.decoder_layers``), head counts must divide ``args.qkv_dim``
    (None means ``encoder_embed_dim``) and per-layer lists may not be longer than the super layer count.
    """
    dims = SimpleNamespace(
        **{attr: _check_value(_cli(attr), value) for attr, value in _attrs_from_args(args, _SUPER_DIMS).items()}
    )
    config = _normalise(config)
    for field in _FIELDS:
        for label, value in _entries(config, field, getattr(dims, f"{field.part}_layers")):
            _check_fits(label, value, field, dims)
    return config


def check_choices(config: Mapping[str, Any], choices: Mapping[str, Sequence[int]],
                  label: Callable[[str], str] = str) -> SubTransformerConfig:
    """Check ``config`` against some choice lists only (by choice key: ``{'encoder-embed-choice': [96, 64]}``) and
    return it normalised; fields without a list are not checked. Raises ConfigError naming the key, the value and
    the choices (``label`` as in :meth:`SearchSpace.validate`)."""
    config = _normalise(config, label)
    _check_in_choices(config, choices, label)
    return config


def trained_space(args: Any) -> SearchSpace | None:
    """The search space a SuperTransformer was trained with: the ``*_choice`` arguments saved in its checkpoint.

    None where the choice arguments are no space: a SubTransformer checkpoint (``train_subtransformer``, the
    original's SubTransformer training, whose choice arguments are the parser defaults; or a compact one,
    ``compact_subtransformer``) or arguments without choice lists.
    """
    if getattr(args, "train_subtransformer", False) or getattr(args, "compact_subtransformer", False):
        return None
    if any(getattr(args, field.choice_attr, None) is None for field in _FIELDS):
        return None
    return SearchSpace.from_args(args)


OFF_SPACE_FLAG = "--allow-off-space"
"""The flag of ``generate.py``, the export and ``train.py --profile-flops`` that runs a config outside the space."""


def check_trained_space(config: Mapping[str, Any], args: Any, source: str, allow_off_space: bool = False) -> None:
    """Raise a ConfigError (``source``, then the key, the value and the choices) unless the SubTransformer YAML
    config ``config`` is in the space the SuperTransformer of ``args`` was trained with (:func:`trained_space`).

    Nothing is checked with ``allow_off_space`` or where the arguments hold no space (a SubTransformer checkpoint):
    then only :func:`check_fits` applies.
    """
    space = None if allow_off_space else trained_space(args)
    if space is None:
        return
    try:
        space.validate(config, label=yaml_label)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}, the search space the SuperTransformer was trained with "
                          f"({OFF_SPACE_FLAG} runs a config outside it)") from None


def active_config(config: Mapping[str, Any]) -> SubTransformerConfig:
    """``config`` normalised, with every per-layer list cut to the sampled layer count."""
    config = _normalise(config)
    return {part: {field.name: _active(config, field) for field in _FIELDS if field.part == part} for part in PARTS}


def check_fits_model(config: Mapping[str, Any], model: Any) -> SubTransformerConfig:
    """:func:`check_fits` against the arguments a model was built from (``model.args``).

    A compact SubTransformer (``args.compact_subtransformer``) runs only its own config.
    """
    config = check_fits(config, model.args)
    if getattr(model.args, "compact_subtransformer", False):
        own = active_config(config_from_args(model.args))
        if active_config(config) != own:
            raise ConfigError(f"a compact SubTransformer runs only its own config {own}, not {active_config(config)}")
    return config


def config_features(config: Mapping[str, Any]) -> list[float]:
    """The 10 latency-predictor features of a config (the original's ``get_config_features``), in
    :data:`FEATURE_NAMES` order.

    Embed dims and layer counts as floats; per-layer fields averaged (float64) over the first N layers;
    arbitrary attention mapped -1 -> 1, 1 -> 2, 2 -> 3 before averaging.
    """
    config = _normalise(config)
    features = []
    for field in _FIELDS:
        value = _active(config, field)
        if not field.per_layer:
            features.append(float(value))
            continue
        if field.arbitrary:
            value = [_ATTENDED_ENCODER_LAYERS[v] for v in value]
        features.append(sum(value) / len(value))
    return features


def _config_from_flat(values: Mapping[str, Any], source: str, prefix: str) -> SubTransformerConfig:
    """Build a normalised config from the ten flat ``*-subtransformer`` keys of ``values``.

    ``source`` names where the values come from and ``prefix`` is put before key names in errors.
    A single value for a list key counts as a one-element list (as configargparse does).
    """
    missing = [key for key in SUBTRANSFORMER_KEYS if values.get(key) is None]
    if missing:
        raise ConfigError(f"{source}: no value for " + ", ".join(prefix + key for key in missing))
    config: SubTransformerConfig = {part: {} for part in PARTS}
    for key, (part, name) in SUBTRANSFORMER_KEYS.items():
        value = values[key]
        if _FIELD_BY_NAME[name].per_layer and not isinstance(value, (list, tuple)):
            value = [value]
        config[part][name] = value
    try:
        return _normalise(config, label=lambda name: prefix + _FIELD_BY_NAME[name].yaml_key)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def config_from_args(args: Any) -> SubTransformerConfig:
    """The config given by the ten ``--*-subtransformer`` flags of an argparse Namespace."""
    values = {key: getattr(args, key.replace("-", "_"), None) for key in SUBTRANSFORMER_KEYS}
    return _config_from_flat(values, "SubTransformer arguments", "--")


def read_subtransformer_yaml(path: str | os.PathLike) -> SubTransformerConfig:
    """Read a SubTransformer YAML file in the original format (other keys in the file are ignored).

    Per-layer lists are returned as stored (the original files truncate them to N_e / N_d).
    """
    try:
        with open(path, encoding="utf-8") as stream:
            data = yaml.safe_load(stream)
    except OSError as error:
        raise ConfigError(f"cannot read SubTransformer config {os.fspath(path)}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{os.fspath(path)} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{os.fspath(path)} does not contain 'key: value' lines")
    return _config_from_flat(data, os.fspath(path), "")


def format_subtransformer_yaml(config: Mapping[str, Any]) -> str:
    """The text of a SubTransformer YAML file in the original layout (its ``evo_search.py``), lists truncated to
    N_e / N_d."""
    config = _normalise(config)
    text = ""
    for group in _YAML_LAYOUT:
        for name in group:
            field = _FIELD_BY_NAME[name]
            text += f"{field.yaml_key}: {_active(config, field)}\n"
        text += "\n"
    return text


def write_subtransformer_yaml(config: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write ``config`` as a SubTransformer YAML file atomically (temp file in the same dir, then rename)."""
    write_text_atomic(path, format_subtransformer_yaml(config))
