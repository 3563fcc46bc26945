"""YAML loading that remembers where things are: the line of every mapping key and sequence item.

The rituals file is parsed once into a node tree (``yaml.compose`` semantics), walked to record
line numbers and duplicate keys (PyYAML silently keeps the last of two equal keys), then
constructed into plain Python data with the safe constructor.

Numbers follow YAML 1.2 rather than PyYAML's YAML 1.1: ``19:00`` stays the text "19:00" instead
of the base-60 integer 1140, and ``0123`` stays "0123" instead of the octal 83. Everything else
(booleans such as ``yes``, dates, anchors and merge keys) is what ``yaml.safe_load`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.i18n import N_
from core.i18n.message import Message

__all__ = ["DuplicateKey", "LoadedYaml", "Loc", "YamlSyntaxError", "load_yaml_with_lines"]

Loc = tuple[str | int, ...]
"""A path into the loaded data: mapping keys (as written in the file) and sequence indexes."""

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _LineLoader(yaml.SafeLoader):
    """The safe loader with YAML 1.2 numbers: no base-60 (``19:00``) and no 0-prefixed octal (``0123``)."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        # PyYAML lets a bad tagged or dated scalar (`!!int x`, `2026-13-45`) escape as a bare
        # ValueError / IndexError / KeyError; give it a position like every other YAML error.
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, OverflowError):
            tag = node.tag.rsplit(":", 1)[-1]
            shown = repr(node.value) if isinstance(node, ScalarNode) else "this value"
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown} is not a valid {tag}", node.start_mark
            ) from None


_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver(
    _INT_TAG,
    re.compile(
        r"""^(?:[-+]?0b[0-1_]+
            |[-+]?0o[0-7_]+
            |[-+]?(?:0|[1-9][0-9_]*)
            |[-+]?0x[0-9a-fA-F_]+)$""",
        re.X,
    ),
    list("-+0123456789"),
)
_LineLoader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
            |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


class YamlSyntaxError(Exception):
    """The text is not YAML (or not one YAML document); ``line`` is 1-based, ``column`` too when known.

    ``said`` is the message in any reader's language (PyYAML's own description of the problem stays
    in English); ``message`` is its English."""

    def __init__(self, line: int, column: int | None, said: Message) -> None:
        super().__init__(line, column, str(said))
        self.line = line
        self.column = column
        self.said = said
        self.message = str(said)


@dataclass(frozen=True)
class DuplicateKey:
    loc: Loc
    line: int
    first_line: int


@dataclass
class LoadedYaml:
    data: object
    """The document as ``yaml.safe_load`` would return it (None for an empty document)."""
    root_line: int
    lines: dict[Loc, int] = field(default_factory=dict)
    """1-based line of each mapping key and each sequence item, by path."""
    duplicates: list[DuplicateKey] = field(default_factory=list)


def load_yaml_with_lines(text: str) -> LoadedYaml:
    """Parse one YAML document; raise ``YamlSyntaxError`` for anything that is not valid YAML."""
    try:
        loader = _LineLoader(text)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return LoadedYaml(data=None, root_line=1)
        loaded = LoadedYaml(data=None, root_line=node.start_mark.line + 1)
        _walk(node, loaded)
        loaded.data = loader.construct_document(node)
        return loaded
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, text) from None
    except RecursionError:
        raise YamlSyntaxError(
            1, None, Message(N_("could not parse: the document is nested too deeply"))
        ) from None
    finally:
        loader.dispose()


def _walk(root: Node, loaded: LoadedYaml) -> None:
    """Record lines and duplicate keys. Iterative, and each node once (aliases are not re-walked)."""
    seen: set[int] = set()
    stack: list[tuple[Node, Loc]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            first_lines: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                    continue
                line = key_node.start_mark.line + 1
                child = (*loc, key_node.value)
                identity = (key_node.tag, key_node.value)
                if identity in first_lines:
                    loaded.duplicates.append(DuplicateKey(child, line, first_lines[identity]))
                else:
                    first_lines[identity] = line
                loaded.lines[child] = line
                stack.append((value_node, child))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                child = (*loc, index)
                loaded.lines[child] = item.start_mark.line + 1
                stack.append((item, child))


def _syntax_error(exc: yaml.YAMLError, text: str) -> YamlSyntaxError:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = exc.problem or exc.context or "invalid YAML"
        column = mark.column + 1
        said = Message(N_("could not parse: {problem} (column {column})"), problem=problem, column=column)
        context_mark = exc.context_mark
        if exc.context and exc.problem and context_mark is not None and context_mark.line != mark.line:
            said = Message(
                N_("could not parse: {problem} (column {column}); {context} at line {line}"),
                problem=problem,
                column=column,
                context=exc.context,
                line=context_mark.line + 1,
            )
        # Advice after PyYAML's words, each a sentence of its own.
        if exc.problem and exc.problem.startswith("expected <block end>"):
            said = Message(N_("{problem}; check the indentation"), problem=said)
        if _looks_like_unquoted_cron(text, mark.line):
            said = Message(
                N_('{problem}; put cron schedules in quotes, e.g. schedule: "*/15 * * * *"'), problem=said
            )
        return YamlSyntaxError(mark.line + 1, mark.column + 1, said)
    if isinstance(exc, yaml.reader.ReaderError):
        position = max(0, min(exc.position, len(text)))
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        char = exc.character
        shown = f"U+{ord(char):04X}" if isinstance(char, str) else f"U+{char:04X}"
        said = Message(
            N_("could not parse: the character {character} is not allowed in YAML (column {column})"),
            character=shown,
            column=column,
        )
        return YamlSyntaxError(line, column, said)
    return YamlSyntaxError(1, None, Message(N_("could not parse: {problem}"), problem=str(exc)))


def _looks_like_unquoted_cron(text: str, line_index: int) -> bool:
    lines = text.splitlines()
    if not 0 <= line_index < len(lines):
        return False
    return re.search(r"\bschedule\s*:\s*\*", lines[line_index]) is not None
