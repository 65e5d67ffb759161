"""A document with the entities and relations models found in it, in document offsets.

Offsets are Unicode code points (Python `str` indices), end exclusive, counted over the whole
document: a passage's text starts at its `offset` (PubMed: the title at 0, the abstract at
len(title) + 1, as PubTator counts; BioC: each passage's own offset). Everything here is plain
Python: readers (tfrecords_tools.corpus), annotators and writers share it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

Span = tuple[int, int]  # (start, end) into a text, end exclusive


@dataclass(frozen=True)
class Passage:
    """A stretch of a document's text: its kind, its document offset, its text and its sentences.

    ``kind`` is "title", "abstract", "text" or a BioC passage's ``type`` infon ("passage" without
    one); ``offset`` is the document offset of ``text[0]``; ``sentences`` are spans into ``text``.
    """

    kind: str
    offset: int
    text: str
    sentences: tuple[Span, ...] = ()

    @property
    def end(self) -> int:
        """The document offset just past the passage's text."""
        return self.offset + len(self.text)


@dataclass(frozen=True)
class Entity:
    """A mention: `id` ("T0", "T1"... in document order), its document span, text and type,
    the model's score (0..1) and which model(s) found it ("ncbi", or "ncbi+bc5cdr" when
    several found the same span with the same type)."""

    id: str
    start: int
    end: int
    text: str
    type: str
    score: float
    model: str


@dataclass(frozen=True)
class Relation:
    """A relation between two entities (`e1`, `e2`: their ids) of one sentence: its type, the
    model's probability for it and the model's name."""

    id: str
    type: str
    e1: str
    e2: str
    score: float
    model: str


@dataclass
class AnnotatedDocument:
    """A document (`id`, and `source`: "file:line" where it starts) with its passages, entities
    and relations."""

    id: str
    source: str
    passages: list[Passage]
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)

    def passage_at(self, start: int, end: int) -> Passage | None:
        """The passage that holds the document span [start, end), None if none does."""
        return next((p for p in self.passages if p.offset <= start and end <= p.end), None)

    def check_offsets(self) -> None:
        """A ValueError naming the first entity whose span does not slice its text out of a
        passage, or a relation naming a missing entity (a bug, never a user's error)."""
        for e in self.entities:
            passage = self.passage_at(e.start, e.end)
            found = passage.text[e.start - passage.offset:e.end - passage.offset] if passage \
                else None
            if found != e.text:
                raise ValueError(f"document {self.id}: entity {e.id} [{e.start}, {e.end}) "
                                 f"{e.text!r} is {found!r} in the text")
        ids = {e.id for e in self.entities}
        for r in self.relations:
            if not {r.e1, r.e2} <= ids:
                raise ValueError(f"document {self.id}: relation {r.id} names an entity it lacks")


def merge_entities(found: Iterable[Entity]) -> list[Entity]:
    """The entities of several models as one list: the same span with the same type once (the
    highest score, the models' names joined by "+"), overlaps and same spans of other types
    kept (as PubTator keeps them); sorted by (start, end, type) and numbered T0, T1... in that
    order, so that the output is the same whatever order the models ran in. The ids given are
    replaced."""
    merged: dict[tuple[int, int, str], Entity] = {}
    for e in found:
        key = (e.start, e.end, e.type)
        if key in merged:
            kept = merged[key]
            models = "+".join(sorted(set(kept.model.split("+")) | set(e.model.split("+"))))
            e = dataclasses.replace(kept, score=max(kept.score, e.score), model=models)
        merged[key] = e
    return [dataclasses.replace(merged[key], id=f"T{index}")
            for index, key in enumerate(sorted(merged))]


def number_relations(found: Iterable[Relation]) -> list[Relation]:
    """Relations sorted by (e1, e2, model, type) and numbered R0, R1... in that order."""
    def order(r: Relation) -> tuple:
        return int(r.e1[1:]), int(r.e2[1:]), r.model, r.type
    return [dataclasses.replace(r, id=f"R{index}")
            for index, r in enumerate(sorted(found, key=order))]
