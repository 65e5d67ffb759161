"""Reading a JSON file a user or a run gives us: one clear error naming the file and the field,
never a traceback and never a silent misread.

`load` (a file) and `parse_line` (one record of a JSON-lines file) give the value as a `Node`: the
value with where it is (`data[3].paragraphs[0].qas[2]`), whose typed accessors (`field`, `items`,
`string`, `integer`, ...) check each field and name its JSON path when it is wrong. Every error is
the caller's ValueError subclass with a one-line message starting with the file (or `file:line`).

What the loader refuses, wherever it is in the document:
- bytes that are not UTF-8 (a UTF-8 byte-order mark is skipped), an empty file, malformed or
  truncated JSON (`file:line: malformed JSON: ... (column C)`, lines counted at LF, CRLF or CR);
- `NaN`, `Infinity` and `-Infinity`, which Python's json accepts but are not JSON, and a number
  too large for a float (it would read as infinity; `allow_overflow` keeps it for readers that
  check their numbers' range themselves);
- a key twice in one object (JSON leaves it undefined; Python keeps the last one silently);
- nesting deeper than `MAX_DEPTH`, and strings holding a lone UTF-16 surrogate (`"\\ud800"`),
  which is not text and fails later when written;
- a top level of another kind than the caller expects.
The accessors never convert: a bool is not an integer, `1.0` is not an integer, `"3"` is not a
number.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from typing import Any, NoReturn

MAX_DEPTH = 100  # our files nest at most ~10 levels; deeper is damage (and recursion)

_KIND_NAMES = {dict: "object", list: "array", str: "string"}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonFileError(ValueError):
    """A JSON file is unreadable or does not hold what its reader expects."""


@dataclasses.dataclass(frozen=True)
class _Refused:
    """Stands for a number the loader refuses, so that the walk can name where it was."""

    text: str


class _DuplicateKey(dict):
    """An object in which `key` occurs twice (found by the walk, to name where)."""

    key: str


@dataclasses.dataclass(frozen=True)
class Node:
    """A JSON value and where it is: `source` (the file, or `file:line`) and its JSON `path`."""

    value: Any
    source: str
    error: type[ValueError] = JsonFileError
    path: str = ""  # "" at the top level

    @property
    def where(self) -> str:
        return f"{self.source}: {self.path}" if self.path else self.source

    def fail(self, problem: str) -> NoReturn:
        """Raises the reader's error: `source: path: problem`."""
        raise self.error(f"{self.where}: {problem}")

    def child(self, key: str | int, value: Any) -> Node:
        return Node(value, self.source, self.error, _step(self.path, key))

    # ---- containers ------------------------------------------------------------------------
    def object(self) -> dict[str, Any]:
        return self._expect(isinstance(self.value, dict), "an object")

    def array(self) -> list[Any]:
        return self._expect(isinstance(self.value, list), "an array")

    def has(self, key: str) -> bool:
        return key in self.object()

    def field(self, key: str) -> Node:
        """The field `key` of this object; an error when it is missing."""
        if key not in self.object():
            self.fail(f"the field {key!r} is missing")
        return self.child(key, self.value[key])

    def optional(self, key: str, default: Any) -> Node:
        """The field `key` of this object, or `default` where it is absent."""
        return self.child(key, self.object().get(key, default))

    def items(self) -> list[Node]:
        """The elements of this array."""
        return [self.child(i, value) for i, value in enumerate(self.array())]

    # ---- scalars ---------------------------------------------------------------------------
    def string(self, non_empty: bool = True) -> str:
        ok = isinstance(self.value, str) and (self.value.strip() or not non_empty)
        return self._expect(ok, "a non-empty string" if non_empty else "a string")

    def integer(self, minimum: int | None = None) -> int:
        ok = is_integer(self.value) and (minimum is None or self.value >= minimum)
        return self._expect(ok, "an integer" + (f" >= {minimum}" if minimum is not None else ""))

    def number(self) -> float:
        ok = is_number(self.value) and math.isfinite(self.value)
        return self._expect(ok, "a finite number")

    def boolean(self) -> bool:
        return self._expect(isinstance(self.value, bool), "true or false")

    def _expect(self, ok: bool, what: str) -> Any:
        if not ok:
            self.fail(f"must be {what}, got {show(self.value)}")
        return self.value


def is_integer(value: Any) -> bool:
    """A JSON integer (not a bool, not 1.0)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A JSON number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def show(value: Any, limit: int = 60) -> str:
    """A value as JSON, cut to `limit` characters, for messages."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "..."


def load(path: str | os.PathLike, error: type[ValueError] = JsonFileError,
         kind: type | None = dict, allow_overflow: bool = False) -> Node:
    """The JSON document in the file `path` (a `kind` at the top: dict, list, or None for any)."""
    path = os.fspath(path)
    data = _read_bytes(path, error)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
        raise error(f"{path}:{line}: not UTF-8 ({e.reason} at byte {e.start})") from None
    if not text.strip(" \t\r\n"):
        raise error(f"{path}: empty file (expected a JSON {_KIND_NAMES.get(kind, 'value')})")
    return _parse(text, path, error, kind, allow_overflow, in_file=True)


def parse_line(text: str, path: str, line: int, error: type[ValueError] = JsonFileError,
               kind: type | None = dict) -> Node:
    """The JSON document on line `line` of a JSON-lines file (its source is `path:line`)."""
    return _parse(text, f"{path}:{line}", error, kind, allow_overflow=False, in_file=False)


def _parse(text: str, source: str, error: type[ValueError], kind: type | None,
           allow_overflow: bool, in_file: bool) -> Node:
    refused = False  # set when a refused value was read: the walk then finds where

    def refuse(number: str) -> _Refused:
        nonlocal refused
        refused = True
        return _Refused(number)

    def read_float(number: str) -> float | _Refused:
        value = float(number)
        return value if allow_overflow or math.isfinite(value) else refuse(number)

    def read_object(pairs: list[tuple[str, Any]]) -> dict:
        nonlocal refused
        value = dict(pairs)
        if len(value) < len(pairs):
            refused = True
            seen: set[str] = set()
            value = _DuplicateKey(value)
            value.key = next(k for k, _ in pairs if k in seen or seen.add(k))
        return value

    try:
        value = json.loads(text, parse_constant=refuse, parse_float=read_float,
                           object_pairs_hook=read_object)
    except json.JSONDecodeError as e:
        if not in_file:  # a JSON-lines record is one line: only its column
            raise error(f"{source}: invalid JSON ({e.msg} at column {e.pos + 1})") from None
        line, column = _line_column(e.doc, e.pos)
        raise error(f"{source}:{line}: malformed JSON: {e.msg} (column {column})") from None
    except RecursionError:
        raise error(f"{source}: JSON nested too deeply") from None
    except ValueError as e:  # an integer of thousands of digits
        raise error(f"{source}: malformed JSON: {str(e).splitlines()[0]}") from None
    _check(value, source, error, refused, bool(_SURROGATE_ESCAPE.search(text)))
    if kind is not None and not isinstance(value, kind):
        raise error(f"{source}: expected a JSON {_KIND_NAMES.get(kind, kind.__name__)}"
                    f"{'' if in_file else ' per line'}, got {type(value).__name__}")
    return Node(value, source, error)


def _read_bytes(path: str, error: type[ValueError]) -> bytes:
    if "://" in path:  # gs:// and other remote files, through TensorFlow (imported only then)
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            raise error(f"{path}: not found")
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    if not os.path.isfile(path):
        raise error(f"{path}: not found" if not os.path.exists(path) else f"{path}: not a file")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror})") from None


def _line_column(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of `pos`, a line ending at LF, CRLF or a lone CR."""
    before = text[:pos].replace("\r\n", "\n").replace("\r", "\n")
    return before.count("\n") + 1, pos - max(text.rfind("\n", 0, pos), text.rfind("\r", 0, pos))


def _check(value: Any, source: str, error: type[ValueError], refused: bool,
           surrogates: bool) -> None:
    """Walks the document without recursion: its depth, and where a refused value is. Paths are
    built only for the message (a trail is (parent trail, key)), so a clean walk is cheap."""
    stack: list[tuple[Any, int, tuple | None]] = [(value, 1, None)]
    leaves_too = refused or surrogates
    while stack:
        value, depth, trail = stack.pop()
        problem = None
        if depth > MAX_DEPTH:
            problem = f"JSON nested too deeply (more than {MAX_DEPTH} levels)"
        elif isinstance(value, _Refused):
            problem = (f"{value.text} is not a JSON number" if value.text[-1].isalpha()
                       else f"{value.text} is too large for a number")
        elif isinstance(value, _DuplicateKey):
            problem = f"the key {value.key!r} occurs twice in this object"
        elif surrogates and any(isinstance(x, str) and _SURROGATE.search(x)
                                for x in (value if isinstance(value, dict) else [value])):
            problem = "a lone UTF-16 surrogate (\\ud800-\\udfff) is not text"
        if problem:
            # "file: NaN is not a JSON number (at data[0].x)": the value first, then where.
            where = _path(trail) or "the top level"
            where = where if len(where) <= 120 else where[:120] + "..."  # deep nesting
            raise error(f"{source}: {problem} (at {where})")
        if isinstance(value, dict):
            children = value.items()
        elif isinstance(value, list):
            children = enumerate(value)
        else:
            continue
        stack.extend((child, depth + 1, (trail, key)) for key, child in reversed(list(children))
                     if leaves_too or isinstance(child, (dict, list)))


def _path(trail: tuple | None) -> str:
    """`data[3].paragraphs[0]` from a trail of (parent trail, key)."""
    keys = []
    while trail is not None:
        trail, key = trail
        keys.append(key)
    path = ""
    for key in reversed(keys):
        path = _step(path, key)
    return path


def _step(path: str, key: str | int) -> str:
    """The path of a child: `path[3]` for an array element, `path.key` for a field."""
    return path + (f"[{key}]" if isinstance(key, int) else f".{key}" if path else key)
