"""Predicted entities of `--predict_file` in the formats biomedical text-mining tools exchange.

`--predict_file` first writes one JSON line per document (the `jsonl` format), and `render` turns
those lines into `pubtator` or `bioc_json` (biobert_tf.annotation.formats) through the task's
`prediction_document`. For entities (NER: `{"line": N, "text": ..., "entities": [{"start", "end",
"type", "score", "text"}, ...]}`, `entity_document`) each line is a document whose id is the line
number, with one passage of kind "text" at offset 0 (in PubTator the abstract under an empty
title, so its offsets are the line's plus one) and the line's entities numbered T0, T1... by
start, as `merge_entities` numbers them; they name no model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import IO, Any

from biobert_tf import atomic_files
from biobert_tf.annotation import formats
from biobert_tf.annotation.document import AnnotatedDocument, Entity, Passage, merge_entities

ToDocument = Callable[[dict[str, Any]], AnnotatedDocument]


def render_file(records_path: str, output_path: str, output_format: str,
                to_document: ToDocument | None = None) -> None:
    """Writes `output_path` in `output_format` from the complete JSON lines of `records_path`,
    whole or not at all (it takes one pass: cheap next to predicting, so it is redone on every
    run rather than trusted to match the lines)."""
    # Under a fixed name, not a process's own: a killed run's is overwritten by the next one.
    partial = output_path + atomic_files.PARTIAL_SUFFIX
    with open(partial, "w", encoding="utf-8") as out:
        render(records_path, out, output_format, to_document)
    os.replace(partial, output_path)


def render(records_path: str, out: IO[str], output_format: str,
           to_document: ToDocument | None = None) -> None:
    """Writes the JSON lines of `records_path` (see the module docstring) to `out` in
    `output_format`, one document at a time, each made by `to_document` (entity lines:
    `entity_document`, the default)."""
    if output_format not in ("pubtator", "bioc_json"):
        raise ValueError(f"no rendering for --predict_format={output_format}")
    formats.write(map(to_document or entity_document, _records(records_path)), out,
                  formats.FORMATS[output_format])


def entity_document(record: dict[str, Any]) -> AnnotatedDocument:
    """One JSON line of entities (NER's `--predict_file`) as a document."""
    entities = merge_entities(Entity("", e["start"], e["end"], e["text"], e["type"], e["score"], "")
                              for e in record["entities"])
    return AnnotatedDocument(str(record["line"]), "", [Passage("text", 0, record["text"])],
                             entities)


def _records(path: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8", newline="\n") as f:
        for line in f:
            yield json.loads(line)
