"""Predicted entities in the formats biomedical text-mining tools exchange.

`--predict_file` first writes one JSON line per document (`{"line": N, "text": ..., "entities":
[{"start", "end", "type", "score", "text"}, ...]}`: the `jsonl` format), and `render` turns those
lines into:

- `pubtator` (PubTator / BioCreative V CDR): per document ``ID|t|TITLE``, ``ID|a|ABSTRACT``, one
  line per mention ``ID<TAB>START<TAB>END<TAB>MENTION<TAB>TYPE<TAB>IDENTIFIER`` and a blank line.
  Offsets count from the title's start, over TITLE + " " + ABSTRACT. A document of
  `--predict_file` is one line of raw text, which becomes the abstract under an empty title: its
  offsets are the line's plus one. The identifier (a concept id) is -1, the BioCreative V CDR
  corpus's value for a mention without one: normalisation is out of scope. (An empty column
  would be dropped by readers that strip each line, such as the `bioc` package's, which then
  read the mention as a relation.) Tabs and line breaks inside the text would break the columns
  and lines, so they are written as spaces (one character for one: the offsets stay valid).
- `bioc_json` (BioC JSON, as the `bioc` package reads it): one collection; each document has one
  passage of type "abstract" at offset 0 whose annotations carry the type, the score and the
  identifier -1 as infons (strings, as BioC has them), and one location each.

The ID is the input line number. Offsets are Unicode code points, as Python counts them; readers
that count UTF-16 units (Java, JavaScript) differ after characters beyond U+FFFF.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import IO, Any

from biobert_tf import atomic_files

# Format name → file extension.
FORMATS = {"jsonl": ".jsonl", "pubtator": ".pubtator", "bioc_json": ".bioc.json"}
NO_IDENTIFIER = "-1"  # a mention's concept id, for want of normalisation

# Every character that str.splitlines() breaks a line at, and the tab.
_BREAKS = re.compile("[\t\n\x0b\x0c\r\x1c\x1d\x1e\x85\u2028\u2029]")


def render_file(records_path: str, output_path: str, output_format: str) -> None:
    """Writes `output_path` in `output_format` from the complete JSON lines of `records_path`,
    whole or not at all (it takes one pass: cheap next to predicting, so it is redone on every
    run rather than trusted to match the lines)."""
    # Under a fixed name, not a process's own: a killed run's is overwritten by the next one.
    partial = output_path + atomic_files.PARTIAL_SUFFIX
    with open(partial, "w", encoding="utf-8") as out:
        render(records_path, out, output_format)
    os.replace(partial, output_path)


def render(records_path: str, out: IO[str], output_format: str) -> None:
    """Writes the JSON lines of `records_path` (see the module docstring) to `out` in
    `output_format`, one document at a time."""
    if output_format == "pubtator":
        for record in _records(records_path):
            out.write(pubtator_document(record))
    elif output_format == "bioc_json":
        out.write('{"source": "biobert-tf", "date": "", "key": "", "infons": {}, "documents": [\n')
        for index, record in enumerate(_records(records_path)):
            out.write((",\n" if index else "") + json.dumps(bioc_document(record),
                                                           ensure_ascii=False))
        out.write("\n]}\n")
    else:
        raise ValueError(f"no rendering for --predict_format={output_format}")


def pubtator_document(record: dict[str, Any]) -> str:
    """One document in PubTator, its blank line included."""
    doc_id, text = str(record["line"]), _BREAKS.sub(" ", record["text"])
    lines = [f"{doc_id}|t|", f"{doc_id}|a|{text}"]
    # The abstract starts after the empty title and its space.
    lines += [f"{doc_id}\t{e['start'] + 1}\t{e['end'] + 1}\t{text[e['start']:e['end']]}\t"
              f"{e['type']}\t{NO_IDENTIFIER}" for e in record["entities"]]
    return "\n".join(lines) + "\n\n"


def bioc_document(record: dict[str, Any]) -> dict[str, Any]:
    """One document as a BioC JSON object."""
    annotations = [{"id": f"T{index}",
                    "infons": {"type": e["type"], "score": str(e["score"]),
                              "identifier": NO_IDENTIFIER},
                    "text": e["text"],
                    "locations": [{"offset": e["start"], "length": e["end"] - e["start"]}]}
                   for index, e in enumerate(record["entities"])]
    passage = {"offset": 0, "infons": {"type": "abstract"}, "text": record["text"],
               "sentences": [], "annotations": annotations, "relations": []}
    return {"id": str(record["line"]), "infons": {}, "passages": [passage], "annotations": [],
            "relations": []}


def _records(path: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8", newline="\n") as f:
        for line in f:
            yield json.loads(line)
