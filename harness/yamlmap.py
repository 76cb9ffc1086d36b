"""YAML loading that remembers where every value came from, so errors can name file:line."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.errors import SuiteError
from harness.registry import did_you_mean

Loc = tuple[str | int, ...]
_TOKEN = re.compile(r"__harness_env_\d+__")
_SCALARS = yaml.SafeLoader("")  # turns scalar nodes into Python values
_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class LocatedYaml:
    """A parsed YAML document plus the line of every key and item in it."""

    def __init__(self, path: Path, data: Any, lines: dict[Loc, int]) -> None:
        self.path = path
        self.data = data
        self._lines = lines

    def line(self, loc: Iterable[str | int]) -> int:
        """The line of `loc`, or of its nearest located ancestor."""
        parts = tuple(loc)
        while parts:
            if parts in self._lines:
                return self._lines[parts]
            parts = parts[:-1]
        return 1

    def where(self, loc: Iterable[str | int]) -> str:
        return f"{self.path}:{self.line(loc)}"

    def error(self, loc: Iterable[str | int], message: str) -> SuiteError:
        loc = tuple(loc)
        dotted = format_loc(loc)
        return SuiteError(f"{self.where(loc)}: {dotted + ': ' if dotted else ''}{message}")


def format_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_located(path: Path) -> LocatedYaml:
    """Parse `path`, expand ${VAR} and ${VAR:-default} in strings, and record each value's line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(f"{path}: suite file not found; check the path") from None
    except IsADirectoryError:
        raise SuiteError(f"{path}: is a folder; give a suite file, e.g. {path}/x.yaml") from None
    except OSError as err:
        raise SuiteError(f"{path}: cannot read the suite ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise SuiteError(
            f"{path}: not UTF-8 text ({err.reason}); save the suite as UTF-8"
        ) from None
    text, references = _protect_env_references(text)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SuiteError(f"{path}:{line}: invalid YAML: {problem}") from None
    if root is None:
        raise SuiteError(f"{path}:1: the suite is empty; see suites/quickstart.yaml for the shape")
    builder = _Builder(path, references)
    data = builder.build(root, ())
    return LocatedYaml(path, data, builder.lines)


def _protect_env_references(text: str) -> tuple[str, dict[str, re.Match[str]]]:
    """Swap each ${VAR} for a plain token, so `{path: ${X}/a}` stays valid flow-style YAML."""
    references: dict[str, re.Match[str]] = {}

    def token(match: re.Match[str]) -> str:
        name = f"__harness_env_{len(references)}__"
        references[name] = match
        return name

    return _ENV_VAR.sub(token, text), references


MAX_VALUES = 100_000
"""Values a suite may expand to: aliases (`*x`) can multiply a small file into billions."""
MAX_DEPTH = 64


class _Builder:
    """Python values from a composed YAML tree, each key's and item's line recorded; alias
    expansion bounded in count and depth, and a self-referencing alias refused."""

    def __init__(self, path: Path, refs: dict[str, re.Match[str]]) -> None:
        self.path, self.refs = path, refs
        self.lines: dict[Loc, int] = {}
        self.values = 0
        self.open: set[int] = set()  # ids of the nodes being built: a repeat is a cycle

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        line = node.start_mark.line + 1
        self.lines.setdefault(loc, line)
        self.values += 1
        if self.values > MAX_VALUES or len(loc) > MAX_DEPTH:
            raise SuiteError(
                f"{self.path}:{line}: the suite expands to more than {MAX_VALUES:,} values or "
                f"{MAX_DEPTH} levels (YAML aliases *name repeat what &name marks); write it out "
                "or use fewer aliases"
            )
        if id(node) in self.open:
            raise SuiteError(
                f"{self.path}:{line}: an alias refers to the value that contains it; "
                "a suite cannot be recursive"
            )
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            self.open.add(id(node))
            try:
                return (
                    self._mapping(node, loc)
                    if isinstance(node, yaml.MappingNode)
                    else [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
                )
            finally:
                self.open.discard(id(node))
        value = _SCALARS.construct_object(node)
        if isinstance(value, str):
            return _expand_env(value, self.path, line, self.refs)
        return value

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _SCALARS.construct_object(key_node)
            key_line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise SuiteError(f"{self.path}:{key_line}: keys must be strings, got {key!r}")
            if key in out:
                raise SuiteError(f"{self.path}:{key_line}: duplicate key '{key}'; keep one of them")
            self.lines[(*loc, key)] = key_line
            out[key] = self.build(value_node, (*loc, key))
        return out


def _expand_env(value: str, path: Path, line: int, refs: dict[str, re.Match[str]]) -> str:
    def substitute(token: re.Match[str]) -> str:
        match = refs[token.group(0)]
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise SuiteError(
            f"{path}:{line}: environment variable {name} is not set; "
            f"export {name}=... or write ${{{name}:-default}}"
        )

    return _TOKEN.sub(substitute, value)


def validate(
    model: type[Any], data: Any, loc: Loc, doc: LocatedYaml, also: list[str] | None = None
) -> Any:
    """Validate `data` against `model`; `also` names keys a surrounding schema accepts."""
    if not isinstance(data, dict):
        raise doc.error(loc, f"expected a mapping of keys, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise suite_error(err, [*(also or []), *model.model_fields], loc, doc) from None


def suite_error(err: ValidationError, allowed: list[str], loc: Loc, doc: LocatedYaml) -> SuiteError:
    first = err.errors()[0]
    where: Loc = (*loc, *first["loc"])
    if first["type"] == "extra_forbidden":
        key = str(first["loc"][-1])
        hint = did_you_mean(key, allowed)
        message = f"unknown key '{key}'.{hint} Allowed: {', '.join(allowed) or 'none'}"
    elif first["type"] == "missing":
        message = f"missing required key '{first['loc'][-1]}'"
        where = where[:-1]
    else:
        message = f"{first['msg']} (got {first.get('input')!r})"
    more = len(err.errors()) - 1
    return doc.error(where, message + (f" [and {more} more problem(s)]" if more else ""))
