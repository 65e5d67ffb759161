"""RE data: BioBERT/BLUE tsv, SciBERT ChemProt jsonl and generic jsonl readers; blinding, markers.

Every reader returns `RelationExample`s: the sentence, its label, and the character spans `e1`, `e2`
of the two entities in `text`. A span always covers *what stands for the entity in `text`*:

- blinded data (BioBERT tsv): the placeholder itself (`@GENE$`), e1 = the first placeholder in the
  sentence, e2 = the second. The BLUE releases write one combined placeholder when the two mentions
  overlap (`@CHEM-GENE$`, `@DRUG-DRUG$`); then e1 == e2 == its span.
- SciBERT ChemProt jsonl: the markers are removed and the spans cover the mention text.
- generic jsonl: the spans given in the file.
- after `mark`: the whole wrapped unit, markers included (`[E1] BRCA1 [/E1]`), so a span's start is
  the position of the opening marker (what an entity-start head reads) and `blind(mark(x))`
  gives the same text as `blind(x)`.

Spans are Python string indices (Unicode code points), end exclusive. e1 and e2 are either the same
span (one mention standing for both) or disjoint; nested or partly overlapping spans are refused.

File formats:

- **BioBERT RE tsv** (GAD, EU-ADR, BioBERT/BLUE ChemProt and DDI): `SENTENCE<TAB>LABEL` or
  `INDEX<TAB>SENTENCE<TAB>LABEL` per line, optionally after a header naming the columns
  (`index<TAB>sentence<TAB>label`, as BioBERT's test.tsv; recognised by content, case-insensitive).
  All rows of a file have the same number of columns. Entities are blinded as `@NAME$` placeholders
  (`@GENE$`, `@DISEASE$`, `@CHEMICAL$`, `@DRUG$`, ...: `@`, upper-case letters, digits, `_` or `-`,
  `$`); a row needs exactly two of them, or one combined placeholder with a `-` in its name. Labels
  are kept as written (`0`/`1`, `CPR:3`/`false`, `DDI-advise` or `advise`, ...). Fields are split on
  tabs only, with no quoting (as BioBERT reads them: sentences contain `"`).
- **SciBERT ChemProt jsonl**: `{"text": "... << Ang II >> ... [[ valsartan ]] ...", "label": ...}`;
  `<< >>` wraps the first entity and `[[ ]]` the second, in either text order. SciBERT inserted the
  markers as `"<< " + mention + " >>"`, so the reader removes exactly the opening marker with the one
  space after it and the closing marker with the one space before it; the text around the markers is
  left alone (`(<< CGP20712A >>,` → `(CGP20712A,`, `PGE1>[[ STA2 ]]>>17` → `PGE1>STA2>>17`), giving
  back the original sentence. Any further whitespace inside the markers stays in `text` but not in
  the span. Each opening marker (`<< `, `[[ ` with the space) must occur exactly once; its closing
  marker is the first ` >>` / ` ]]` after it (the sentences themselves contain `>>` and `[[`, e.g.
  `STA2>>17-phenyl` or `2-[[2-hydroxy`, but never these with the space on the inside).
- **generic jsonl**: `{"text": ..., "label": ..., "e1": [start, end], "e2": [start, end], "id": ...}`
  (`id` optional; an int label or id is read as its decimal string; other keys are ignored).

Blank lines are skipped; a UTF-8 BOM and CRLF line ends are tolerated. A jsonl record is read by
`biobert_tf.json_files` (no NaN/Infinity, no key twice, anywhere in the record). Every other problem raises
`ReDataError` naming `path:line` (1-based); nothing is dropped silently. Examples without an id in
the file get `STEM-K` (`train-0`, `train-1`, ... by data row, as BioBERT's guids).
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from biobert_tf import json_files
from biobert_tf.tasks.relation.metrics import NEGATIVE_LABELS
from biobert_tf.text_files import utf8_lines

FORMATS = ("biobert_tsv", "scibert_jsonl", "jsonl")

# BioBERT's --task_name values (all read by its one BioBERTProcessor) plus the SciBERT ChemProt.
TASK_FORMATS = {
    "gad": "biobert_tsv",
    "euadr": "biobert_tsv",
    "polysearch": "biobert_tsv",
    "mirnadisease": "biobert_tsv",
    "chemprot": "biobert_tsv",
    "ddi13": "biobert_tsv",
    "chemprot_scibert": "scibert_jsonl",
}

# The labels of the --task_name data sets whose label set is fixed (BioBERT's BioBERTProcessor);
# any other label in their files is a data error.
TASK_LABELS = {"gad": ("0", "1"), "euadr": ("0", "1")}

PLACEHOLDER_RE = re.compile(r"@[A-Z][A-Z0-9_]*(?:-[A-Z0-9_]+)*\$")
DEFAULT_PLACEHOLDERS = ("@E1$", "@E2$")
DEFAULT_JOINT_PLACEHOLDER = "@E1-E2$"
DEFAULT_MARKERS = ("[E1]", "[/E1]", "[E2]", "[/E2]")
SCIBERT_MARKERS = ("<<", ">>", "[[", "]]")

_HEADERS = (["index", "sentence", "label"], ["sentence", "label"])
_ASCII_SPACE = " \t\r\n\f\v"

Span = tuple[int, int]


class ReDataError(ValueError):
    """An RE data file (or example) is malformed; the message names `path:line`."""


@dataclass(frozen=True)
class RelationExample:
    """A sentence with two entities and the relation label (`line` is 1-based; 0 if not from a file).

    `e1` / `e2` are `(start, end)` character spans of what stands for each entity in `text` (see the
    module docstring), or None when the positions are unknown (only for examples built by hand;
    every reader gives spans, and `blind` / `mark` need them).
    """

    text: str
    label: str
    e1: Span | None
    e2: Span | None
    id: str
    path: str
    line: int

    def __post_init__(self):
        where = f"{self.path}:{self.line}: " if self.path else ""
        if not isinstance(self.text, str) or not isinstance(self.label, str):
            raise ReDataError(f"{where}text and label must be str, got {type(self.text).__name__} "
                              f"and {type(self.label).__name__}")
        if (self.e1 is None) != (self.e2 is None):
            raise ReDataError(f"{where}give both entity spans or neither (e1={self.e1}, "
                              f"e2={self.e2})")
        if self.e1 is None:
            return
        spans = []
        for name, span in (("e1", self.e1), ("e2", self.e2)):
            if (not isinstance(span, tuple) or len(span) != 2
                    or not all(isinstance(x, int) and not isinstance(x, bool) for x in span)):
                raise ReDataError(f"{where}{name} must be a (start, end) tuple of two ints, got "
                                  f"{span!r}")
            start, end = span
            if not 0 <= start < end <= len(self.text):
                raise ReDataError(f"{where}{name} span {span} is out of range or empty for a text "
                                  f"of {len(self.text)} characters (need 0 <= start < end <= "
                                  f"{len(self.text)})")
            spans.append(span)
        (s1, t1), (s2, t2) = spans
        if spans[0] != spans[1] and s1 < t2 and s2 < t1:
            raise ReDataError(f"{where}entity spans overlap: e1 {self.e1} "
                              f"{self.text[s1:t1]!r} and e2 {self.e2} {self.text[s2:t2]!r} "
                              f"(they must be disjoint, or equal: one mention standing for both)")

    @property
    def mentions(self) -> tuple[str, str] | None:
        """The text of the two spans (a placeholder, a mention or a marked unit), or None."""
        if self.e1 is None:
            return None
        return self.text[self.e1[0]:self.e1[1]], self.text[self.e2[0]:self.e2[1]]


# ------------------------------------------------------------------------------------------ reading


def _check_exists(path: str) -> None:
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "RE data file not found", path)


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number, text without its line end) for every line, UTF-8 checked per line."""
    for number, line in utf8_lines(path, ReDataError):
        yield number, line.rstrip("\n")


def _no_examples(path: str) -> ReDataError:
    lines = sum(1 for _ in utf8_lines(path, ReDataError))  # only for files without a record: cheap
    return ReDataError(f"{path}:{max(lines, 1)}: no examples in {path} ({lines} lines, none "
                       f"with a record)")


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def placeholder_spans(sentence: str) -> tuple[Span, Span]:
    """The spans of e1's and e2's placeholders (a combined one, @CHEM-GENE$, is both); a
    ValueError unless the sentence holds exactly those."""
    found = list(PLACEHOLDER_RE.finditer(sentence))
    if len(found) == 2:
        return found[0].span(), found[1].span()
    if len(found) == 1 and "-" in found[0].group():  # BLUE's @CHEM-GENE$ / @DRUG-DRUG$
        return found[0].span(), found[0].span()
    names = ", ".join(m.group() for m in found) or "none"
    raise ValueError(f"blinded data needs exactly two entity placeholders (e.g. @GENE$ and "
                     f"@DISEASE$) or one combined placeholder (e.g. @CHEM-GENE$); found "
                     f"{len(found)}: {names}")


def read_biobert_tsv(path: str | os.PathLike) -> list[RelationExample]:
    """Reads a BioBERT RE tsv file (GAD / EU-ADR folds, BioBERT or BLUE ChemProt and DDI).

    Rows are `SENTENCE<TAB>LABEL` (BioBERT's train.tsv) or `INDEX<TAB>SENTENCE<TAB>LABEL` (test.tsv,
    BLUE); a first line `index<TAB>sentence<TAB>label` (or `sentence<TAB>label`) is a header. The
    index column becomes the example id.
    """
    path = os.fspath(path)
    _check_exists(path)
    examples: list[RelationExample] = []
    columns = 0  # the file's column count, fixed by its header or first row
    seen_content = False
    stem = _stem(path)
    for number, line in _lines(path):
        if not line.strip(_ASCII_SPACE):
            continue
        fields = line.split("\t")
        if not seen_content:
            seen_content = True
            if [f.strip().lower() for f in fields] in _HEADERS:
                columns = len(fields)
                continue
        if len(fields) not in (2, 3) or (columns and len(fields) != columns):
            expected = (f"{columns}" if columns else "2 (SENTENCE<TAB>LABEL) or 3 "
                        "(INDEX<TAB>SENTENCE<TAB>LABEL)")
            raise ReDataError(f"{path}:{number}: {len(fields)} tab-separated columns, expected "
                              f"{expected}: {line[:200]!r}")
        columns = len(fields)
        sentence, label = fields[-2], fields[-1].strip()
        if columns == 3:
            example_id = fields[0].strip()
            if not example_id:
                raise ReDataError(f"{path}:{number}: empty index column")
        else:
            example_id = f"{stem}-{len(examples)}"
        if not label:
            raise ReDataError(f"{path}:{number}: empty label")
        if not sentence.strip():
            raise ReDataError(f"{path}:{number}: empty sentence")
        try:
            e1, e2 = placeholder_spans(sentence)
        except ValueError as e:
            raise ReDataError(f"{path}:{number}: {e}: {sentence[:200]!r}") from None
        examples.append(RelationExample(sentence, label, e1, e2, example_id, path, number))
    if not examples:
        raise _no_examples(path)
    return examples


def _json_lines(path: str) -> Iterator[tuple[int, dict]]:
    for number, line in _lines(path):
        if not line.strip(_ASCII_SPACE):
            continue
        yield number, json_files.parse_line(line, path, number, ReDataError).value


def _string_field(record: dict, key: str, path: str, number: int, allow_int: bool = False) -> str:
    value = record.get(key)
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        what = "a non-empty string" + (" or an int" if allow_int else "")
        got = "missing" if key not in record else f"got {value!r}"
        raise ReDataError(f"{path}:{number}: {key!r} must be {what} ({got})")
    return value


def find_marked(text: str, opening: str, closing: str) -> tuple[int, int]:
    """(start of `opening`, start of `closing`) for the one marked mention, else ValueError."""
    count = text.count(opening)
    if count != 1:
        raise ValueError(f"expected exactly one {opening.strip()!r} marker (written {opening!r}), "
                         f"found {count}")
    start = text.index(opening)
    close = text.find(closing, start + len(opening))
    if close < 0:
        raise ValueError(f"unbalanced markers: {opening.strip()!r} at character {start} has no "
                         f"closing {closing.strip()!r} (written {closing!r}) after it")
    return start, close


def strip_scibert_markers(text: str) -> tuple[str, Span, Span]:
    """SciBERT's `<< e1 >>` / `[[ e2 ]]` sentence → (sentence without markers, e1 span, e2 span).

    Raises ValueError for missing, repeated, unbalanced, empty, nested or overlapping markers.
    """
    found = {}
    for name, (opening, closing) in (("e1", ("<< ", " >>")), ("e2", ("[[ ", " ]]"))):
        start, close = find_marked(text, opening, closing)
        if not text[start + len(opening):close].strip():
            raise ValueError(f"empty mention in {opening.strip()} {closing.strip()}")
        found[name] = (start, close, len(opening), len(closing))
    (a1, c1, _, k1), (a2, c2, _, k2) = found["e1"], found["e2"]
    if a1 < c2 + k2 and a2 < c1 + k1:
        raise ValueError("nested or overlapping << >> and [[ ]] markers")
    pieces, spans, pos = [], {}, 0
    for name, (start, close, len_open, len_close) in sorted(found.items(), key=lambda x: x[1][0]):
        pieces.append(text[pos:start])
        offset = sum(len(p) for p in pieces)
        mention = text[start + len_open:close]
        lead = len(mention) - len(mention.lstrip())
        spans[name] = (offset + lead, offset + len(mention.rstrip()))
        pieces.append(mention)
        pos = close + len_close
    pieces.append(text[pos:])
    return "".join(pieces), spans["e1"], spans["e2"]


def _read_json_examples(path: str | os.PathLike,
                        parse: Callable[[dict, str, int], tuple[str, Span, Span]]
                        ) -> list[RelationExample]:
    """The examples of a jsonl file: `parse(record, path, line)` gives the sentence and the two
    entity spans of a record; `label` and the optional `id` are read here."""
    path = os.fspath(path)
    _check_exists(path)
    examples: list[RelationExample] = []
    stem = _stem(path)
    for number, record in _json_lines(path):
        text, e1, e2 = parse(record, path, number)
        label = _string_field(record, "label", path, number, allow_int=True).strip()
        example_id = (_string_field(record, "id", path, number, allow_int=True) if "id" in record
                      else f"{stem}-{len(examples)}")
        # The constructor checks the spans and names path:line.
        examples.append(RelationExample(text, label, e1, e2, example_id, path, number))
    if not examples:
        raise _no_examples(path)
    return examples


def read_scibert_jsonl(path: str | os.PathLike) -> list[RelationExample]:
    """Reads SciBERT's ChemProt jsonl (`text` with `<< >>` / `[[ ]]` markers, `label`, `metadata`).

    `text` of each example is the sentence without the markers; see the module docstring for the
    exact whitespace rule.
    """
    def parse(record: dict, path: str, number: int) -> tuple[str, Span, Span]:
        marked = _string_field(record, "text", path, number)
        try:
            return strip_scibert_markers(marked)
        except ValueError as e:
            raise ReDataError(f"{path}:{number}: {e}: {marked[:200]!r}") from None

    return _read_json_examples(path, parse)


def _span_field(record: dict, key: str, path: str, number: int) -> Span:
    value = record.get(key)
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in value)):
        got = "missing" if key not in record else f"got {value!r}"
        raise ReDataError(f"{path}:{number}: {key!r} must be [start, end], two ints ({got})")
    return value[0], value[1]


def read_jsonl(path: str | os.PathLike) -> list[RelationExample]:
    """Reads generic jsonl: `{"text", "label", "e1": [start, end], "e2": [start, end], "id"?}`."""
    return _read_json_examples(path, lambda record, path, number: (
        _string_field(record, "text", path, number), _span_field(record, "e1", path, number),
        _span_field(record, "e2", path, number)))


def detect_format(path: str | os.PathLike) -> str:
    """"biobert_tsv", "scibert_jsonl" or "jsonl", from the extension and the first record.

    `.tsv` is BioBERT tsv. Otherwise a first non-blank line starting with `{` is jsonl: generic
    when that record has an `e1` or `e2` key, SciBERT's when not; anything else is BioBERT tsv.
    """
    path = os.fspath(path)
    _check_exists(path)
    if path.lower().endswith(".tsv"):
        return "biobert_tsv"
    for number, line in _lines(path):
        stripped = line.strip(_ASCII_SPACE)
        if not stripped:
            continue
        if not stripped.startswith("{"):
            return "biobert_tsv"
        record = json_files.parse_line(line, path, number, ReDataError, kind=None).value
        if isinstance(record, dict) and ("e1" in record or "e2" in record):
            return "jsonl"
        return "scibert_jsonl"
    raise _no_examples(path)


_READERS = {"biobert_tsv": read_biobert_tsv, "scibert_jsonl": read_scibert_jsonl,
            "jsonl": read_jsonl}


def read_relations(path: str | os.PathLike, data_format: str = "auto") -> list[RelationExample]:
    """Reads an RE file in `data_format` (one of `FORMATS`, or "auto": `detect_format`)."""
    if data_format == "auto":
        data_format = detect_format(path)
    if data_format not in _READERS:
        raise ValueError(f"unknown RE data format {data_format!r}: expected auto or one of "
                         f"{', '.join(FORMATS)}")
    return _READERS[data_format](path)


def format_for_task(task_name: str) -> str:
    """The data format of a BioBERT `--task_name` (case-insensitive), e.g. gad → biobert_tsv."""
    key = task_name.strip().lower()
    if key not in TASK_FORMATS:
        raise ValueError(f"unknown RE task {task_name!r}: expected one of "
                         f"{', '.join(TASK_FORMATS)} (or give the data format instead)")
    return TASK_FORMATS[key]


# ---------------------------------------------------------------------------------------- labels


def _natural_key(label: str) -> tuple:
    # CPR:3 < CPR:9 < CPR:10, not the string order CPR:10 < CPR:3.
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", label))


def label_list(examples: Iterable[RelationExample | str]) -> list[str]:
    """The labels found: the negative class first (`0`, `false`, `DDI-false`, whichever occur), then
    the others in natural order (digit runs compared as numbers). Deterministic for a given set.

    Pass every split the model will see so that no label is missing.
    """
    found = {x.label if isinstance(x, RelationExample) else x for x in examples}
    negatives = [x for x in NEGATIVE_LABELS if x in found]
    return negatives + sorted(found - set(negatives), key=_natural_key)


# --------------------------------------------------------------------------- entity representation


def _rewrite(example: RelationExample, rewrite, rewrite_joint) -> RelationExample:
    """Replaces each span's text by rewrite(name, old_text), or rewrite_joint(old) when e1 == e2."""
    if example.e1 is None:
        where = f"{example.path}:{example.line}: " if example.path else ""
        raise ValueError(f"{where}example {example.id!r} has no entity spans to rewrite")
    text = example.text
    if example.e1 == example.e2:
        start, end = example.e1
        new = rewrite_joint(text[start:end])
        span = (start, start + len(new))
        return replace(example, text=text[:start] + new + text[end:], e1=span, e2=span)
    order = sorted((("e1", example.e1), ("e2", example.e2)), key=lambda x: x[1][0])
    pieces, spans, pos = [], {}, 0
    for name, (start, end) in order:
        pieces.append(text[pos:start])
        new = rewrite(name, text[start:end])
        offset = sum(len(p) for p in pieces)
        spans[name] = (offset, offset + len(new))
        pieces.append(new)
        pos = end
    pieces.append(text[pos:])
    return replace(example, text="".join(pieces), e1=spans["e1"], e2=spans["e2"])


def blind(example: RelationExample, placeholders: tuple[str, str] = DEFAULT_PLACEHOLDERS,
          joint: str = DEFAULT_JOINT_PLACEHOLDER) -> RelationExample:
    """Replaces the e1 / e2 spans by `placeholders` (e.g. typed `("@CHEMICAL$", "@GENE$")`).

    When e1 == e2 (one mention for both) the span becomes `joint`. The new spans cover the
    placeholders. Blinding a marked example replaces the markers too; blinding blinded data renames
    the placeholders. Use `@NAME$` placeholders if the output is to be read back by
    `read_biobert_tsv`.
    """
    if len(placeholders) != 2 or not all(isinstance(p, str) and p for p in placeholders):
        raise ValueError(f"placeholders must be two non-empty strings, got {placeholders!r}")
    if not isinstance(joint, str) or not joint:
        raise ValueError(f"joint must be a non-empty string, got {joint!r}")
    return _rewrite(example, lambda name, _: placeholders[0] if name == "e1" else placeholders[1],
                    lambda _: joint)


def mark(example: RelationExample, markers: tuple[str, str, str, str] = DEFAULT_MARKERS,
         sep: str = " ") -> RelationExample:
    """Wraps the entities: `[E1] mention [/E1]`, `[E2] mention [/E2]` (markers: open1, close1,
    open2, close2), each marker separated from the mention by `sep`.

    For blinded input the placeholder is wrapped (`[E1] @GENE$ [/E1]`). When e1 == e2 the unit is
    `[E1] [E2] mention [/E2] [/E1]`. The new spans cover the whole wrapped unit, markers included.
    `mark(x, SCIBERT_MARKERS)` turns an example read from SciBERT jsonl back into its line's text.
    """
    if len(markers) != 4 or not all(isinstance(m, str) and m for m in markers):
        raise ValueError(f"markers must be four non-empty strings (open1, close1, open2, close2), "
                         f"got {markers!r}")
    open1, close1, open2, close2 = markers

    def wrap(name: str, mention: str) -> str:
        left, right = (open1, close1) if name == "e1" else (open2, close2)
        return f"{left}{sep}{mention}{sep}{right}"

    return _rewrite(example, wrap, lambda mention: wrap("e1", wrap("e2", mention)))
