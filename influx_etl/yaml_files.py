"""YAML loading shared by the curator-edited files (rules, scoring): repeated keys refused,
the line of every key, and unknown keys reported with the closest valid one."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import yaml


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with a repeated key instead of keeping the last one
    (a curator's second ``flag_threshold:`` would otherwise win silently)."""


def _construct_unique_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node)


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping
)


def key_lines(text: str) -> dict[str, int]:
    """The 1-based line of every key and list item of a YAML document, by the path the
    checkers name (``confidence_weights.flag_threshold``, ``domain_patterns[0].pattern``), so an
    error points at the line a curator has to fix."""
    try:
        root = yaml.compose(text, Loader=UniqueKeyLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}

    def walk(node: yaml.Node | None, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = f"{path}.{key_node.value}" if path else str(key_node.value)
                lines.setdefault(key, key_node.start_mark.line + 1)
                walk(value_node, key)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault(f"{path}[{index}]", item.start_mark.line + 1)
                walk(item, f"{path}[{index}]")

    walk(root, "")
    return lines


def unknown_key_message(key: object, valid: Sequence[str]) -> str:
    """``unknown key 'flag_treshold' (did you mean 'flag_threshold'?); valid keys are: …``."""
    close = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; valid keys are: {', '.join(valid)}"
