"""The output formats of annotated documents, each a header, records and a footer, so that a file
is written one document at a time: PubTator, BioC JSON and jsonl.

jsonl: one line per document, ``{"id", "source", "passages": [{"type", "offset", "text"}],
"entities": [{"id", "start", "end", "text", "type", "score", "model"}], "relations": [{"id",
"type", "e1", "e2", "score", "model"}]}``, non-ASCII as is, scores rounded to 4 decimals as in the
other formats. Offsets are document offsets in Unicode code points.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

from biobert_tf.annotation import bioc_json, pubtator
from biobert_tf.annotation.document import AnnotatedDocument


@dataclass(frozen=True)
class Format:
    """A format: its name, file extension and how to write a file of it, which is
    ``header + separator.join(record(doc) for doc in documents) + footer``."""

    name: str
    extension: str
    header: str
    footer: str
    record: Callable[[AnnotatedDocument], str]
    separator: str


def _jsonl_record(doc: AnnotatedDocument) -> str:
    """`doc` as one line of JSON, its line break included."""
    return json.dumps({
        "id": doc.id, "source": doc.source,
        "passages": [{"type": p.kind, "offset": p.offset, "text": p.text} for p in doc.passages],
        "entities": [{**vars(e), "score": round(e.score, 4)} for e in doc.entities],
        "relations": [{**vars(r), "score": round(r.score, 4)} for r in doc.relations]},
        ensure_ascii=False) + "\n"


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format(name="pubtator", extension=".pubtator", header="", footer="",
           record=pubtator.document, separator=""),
    Format(name="bioc_json", extension=".bioc.json", header=bioc_json.HEADER,
           footer=bioc_json.FOOTER, record=bioc_json.record, separator=bioc_json.SEPARATOR),
    Format(name="jsonl", extension=".jsonl", header="", footer="", record=_jsonl_record,
           separator=""),
)}

# Why a document cannot be written in a format, for the formats that cannot write them all.
_PROBLEMS: dict[str, Callable[[AnnotatedDocument], str | None]] = {"pubtator": pubtator.problem}


def format_problem(doc: AnnotatedDocument, fmt: Format) -> str | None:
    """Why `doc` cannot be written in `fmt` (PubTator: an empty id, or one with "|", a tab or a
    line break), None if it can: annotators skip such documents, with this reason."""
    problem = _PROBLEMS.get(fmt.name)
    return problem(doc) if problem else None


def write(documents: Iterable[AnnotatedDocument], out: IO[str], fmt: Format) -> None:
    """Writes a whole file of `documents` in `fmt` to `out`, one document at a time."""
    out.write(fmt.header)
    for index, doc in enumerate(documents):
        out.write((fmt.separator if index else "") + fmt.record(doc))
    out.write(fmt.footer)
