"""PubTator (the BioCreative V CDR corpus's format): write an annotated document, read one back.

A document is ``ID|t|TITLE``, ``ID|a|ABSTRACT``, one line per mention
``ID<TAB>START<TAB>END<TAB>MENTION<TAB>TYPE<TAB>IDENTIFIER``, one line per relation
``ID<TAB>TYPE<TAB>T3<TAB>T7<TAB>SCORE`` and a blank line. Offsets count over TITLE + " " +
ABSTRACT: the title is the "title" passage's text ("" without one), the abstract the other
passages' texts joined by " ", and each entity's offset is re-based from its passage (so a
document of one passage at offset 0 under no title has offsets one more than the passage's).

- The identifier (a concept id) is -1, the CDR corpus's value for a mention without one:
  normalisation is out of scope. (An empty column would be dropped by readers that strip each
  line, such as the `bioc` package's, which then read the mention as a relation.)
- A relation names its entities by our mention ids: ``Tk`` is the document's k-th mention line
  (0-based), the same ids as in BioC JSON and jsonl; the 5th column is the model's probability.
  (CDR writes 4 columns with concept ids, BioRED a 5th for novelty; the `bioc` package reads a
  5-column line as a relation whose 5th column is ``neg``. Its `validate` looks ``T3`` up among
  the concept ids, so it reports our relations as "Cannot find T3"; its reader loads them.)
- Tabs and line breaks inside the text would break the columns and lines, so they are written
  as spaces (one character for one: the offsets stay valid). An id with "|", a tab or a line
  break cannot be written (`problem`).

Offsets are Unicode code points, as Python counts them; readers that count UTF-16 units (Java,
JavaScript) differ after characters beyond U+FFFF.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from biobert_tf.annotation.document import AnnotatedDocument, Passage

NO_IDENTIFIER = "-1"  # a mention's concept id, for want of normalisation

# Every character that str.splitlines() breaks a line at.
_LINE_BREAKS = "\n\x0b\x0c\r\x1c\x1d\x1e\x85\u2028\u2029"
_BREAKS = re.compile(f"[\t{_LINE_BREAKS}]")
_LINE_BREAK = re.compile(f"[{_LINE_BREAKS}]")
_NUMBER = re.compile("0|[1-9][0-9]*")
_SCORE = re.compile(r"[01](\.[0-9]+)?")
_MENTION_ID = re.compile("T(0|[1-9][0-9]*)")


def score_text(score: float) -> str:
    """A score as the text formats write it: rounded to 4 decimals, as JSON writes that float
    ("0.9731", "0.9", "1.0")."""
    return repr(round(score, 4))


def score_value(text: str) -> float | None:
    """The score a text format wrote (a number in [0, 1] as "0.9731", "1.0", "0"), None if
    `text` is none."""
    return float(text) if _SCORE.fullmatch(text) and float(text) <= 1 else None


def problem(doc: AnnotatedDocument) -> str | None:
    """Why `doc` cannot be written in PubTator, None if it can."""
    if not doc.id:
        return "an empty id cannot be written in PubTator"
    if "|" in doc.id or _BREAKS.search(doc.id):
        return f"id {doc.id!r} has a '|', a tab or a line break: it cannot be written in PubTator"
    return None


def document(doc: AnnotatedDocument) -> str:
    """`doc` in PubTator, its blank line included. A ValueError if its id cannot be written
    (`problem`), or if its entities are not numbered T0, T1... in order (`merge_entities`
    numbers them so): relations name them by their position."""
    reason = problem(doc)
    if reason:
        raise ValueError(reason)
    title, abstract, bases = _layout(doc.passages)
    text = _BREAKS.sub(" ", title + " " + abstract)
    lines = [f"{doc.id}|t|{text[:len(title)]}", f"{doc.id}|a|{text[len(title) + 1:]}"]
    for index, e in enumerate(doc.entities):
        if e.id != f"T{index}":
            raise ValueError(f"document {doc.id}: entity {index} is {e.id}, not T{index}")
        passage = doc.passage_at(e.start, e.end)
        if passage is None:
            raise ValueError(f"document {doc.id}: entity {e.id} lies in no passage")
        start = bases[id(passage)] + e.start - passage.offset
        end = start + e.end - e.start
        lines.append(f"{doc.id}\t{start}\t{end}\t{text[start:end]}\t{e.type}\t{NO_IDENTIFIER}")
    lines += [f"{doc.id}\t{r.type}\t{r.e1}\t{r.e2}\t{score_text(r.score)}"
              for r in doc.relations]
    return "\n".join(lines) + "\n\n"


def _layout(passages: list[Passage]) -> tuple[str, str, dict[int, int]]:
    """The title, the abstract and where each passage (by `id()`: equal passages are still
    different places) starts in TITLE + " " + ABSTRACT."""
    title = next((p for p in passages if p.kind == "title"), Passage("title", 0, ""))
    rest = [p for p in passages if p is not title]
    bases, base = {}, 0
    for p in [title] + rest:
        bases[id(p)] = base
        base += len(p.text) + 1
    return title.text, " ".join(p.text for p in rest), bases


class Mention(NamedTuple):
    """A mention line: its span in TITLE + " " + ABSTRACT, text, type and concept identifier."""

    start: int
    end: int
    text: str
    type: str
    identifier: str


class ParsedRelation(NamedTuple):
    """A relation line: its type, the mention ids (``Tk``: the k-th mention line) and score."""

    type: str
    id1: str
    id2: str
    score: float


@dataclass(frozen=True)
class ParsedDocument:
    """A PubTator document as read back."""

    id: str
    title: str
    abstract: str
    mentions: tuple[Mention, ...]
    relations: tuple[ParsedRelation, ...]

    @property
    def text(self) -> str:
        """TITLE + " " + ABSTRACT: what the mentions' offsets count in."""
        return self.title + " " + self.abstract


def parse(text: str) -> list[ParsedDocument]:
    """Strict PubTator as `document` writes it: lines end at "\\n" only and hold no other line
    break; per document a title line, an abstract line with the same id, mention lines (6
    columns, numbers without signs or leading zeros, each span slicing its mention out of TITLE
    + " " + ABSTRACT), relation lines (5 columns, ids of the document's mentions, a score in
    [0, 1]) and one blank line. A ValueError names the first offending line (1-based)."""
    lines = text.split("\n")
    if lines[-1]:
        raise ValueError(f"line {len(lines)}: the text does not end with a line break")
    documents, block = [], []
    for number, line in enumerate(lines[:-1], 1):
        if line:
            block.append((number, line))
        elif block:
            documents.append(_document(block))
            block = []
        else:
            raise ValueError(f"line {number}: a blank line that ends no document")
    if block:
        raise ValueError(f"line {block[-1][0]}: the last document has no blank line after it")
    return documents


def _document(block: list[tuple[int, str]]) -> ParsedDocument:
    for number, line in block:
        if _LINE_BREAK.search(line):
            raise ValueError(f"line {number}: a line break other than \\n")
    if len(block) < 2:
        raise ValueError(f"line {block[0][0]}: a document needs a title and an abstract line")
    (title_number, title_line), (abstract_number, abstract_line) = block[:2]
    doc_id, title = _head(title_number, title_line, "t", None)
    _, abstract = _head(abstract_number, abstract_line, "a", doc_id)
    full = title + " " + abstract
    mentions, relations = [], []
    for number, line in block[2:]:
        columns = line.split("\t")
        if columns[0] != doc_id:
            raise ValueError(f"line {number}: id {columns[0]!r} is not the document's {doc_id!r}")
        if len(columns) == 6:
            mentions.append(_mention(number, columns, full))
        elif len(columns) == 5:
            relations.append((number, _relation(number, columns)))
        else:
            raise ValueError(f"line {number}: {len(columns)} tab-separated columns, not 6 "
                             "(a mention) or 5 (a relation)")
    for number, r in relations:
        for ref in (r.id1, r.id2):
            match = _MENTION_ID.fullmatch(ref)
            if not match or int(match.group(1)) >= len(mentions):
                raise ValueError(f"line {number}: {ref!r} is not a mention of the document "
                                 f"(T0..T{len(mentions) - 1})")
    return ParsedDocument(doc_id, title, abstract, tuple(mentions), tuple(r for _, r in relations))


def _head(number: int, line: str, kind: str, doc_id: str | None) -> tuple[str, str]:
    """The id and text of a ``ID|t|TITLE`` or ``ID|a|ABSTRACT`` line."""
    found_id, _, rest = line.partition("|")
    if not found_id or not rest.startswith(f"{kind}|") or "\t" in line:
        raise ValueError(f"line {number}: not an ID|{kind}|TEXT line without tabs: {line[:80]!r}")
    if doc_id is not None and found_id != doc_id:
        raise ValueError(f"line {number}: id {found_id!r} is not the title's {doc_id!r}")
    return found_id, rest[2:]


def _mention(number: int, columns: list[str], text: str) -> Mention:
    _, start, end, mention, kind, identifier = columns
    if not (_NUMBER.fullmatch(start) and _NUMBER.fullmatch(end)):
        raise ValueError(f"line {number}: offsets {start!r}, {end!r} are not numbers")
    span = int(start), int(end)
    if not span[0] < span[1] <= len(text) or text[span[0]:span[1]] != mention:
        raise ValueError(f"line {number}: [{start}, {end}) is {text[span[0]:span[1]]!r} in "
                         f"the text, not {mention!r}")
    if not kind or not identifier:
        raise ValueError(f"line {number}: an empty type or identifier")
    return Mention(span[0], span[1], mention, kind, identifier)


def _relation(number: int, columns: list[str]) -> ParsedRelation:
    _, kind, id1, id2, score = columns
    value = score_value(score)
    if not kind or value is None:
        raise ValueError(f"line {number}: not a relation TYPE, ID1, ID2, SCORE in [0, 1]")
    return ParsedRelation(kind, id1, id2, value)
