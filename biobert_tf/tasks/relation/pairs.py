"""Candidate relation pairs of a sentence: the entities a tagger found there → one sentence per
pair of the types an RE model relates, written as that model reads it (annotation, issue 20).

Entities are `(start, end, type)` character spans (code points, end exclusive) into the
sentence; types match the spec's `entity_types` case-insensitively (GENE ↔ Gene). Two types
(X, Y): every pair of an X entity (e1) and a Y entity (e2). One type: each unordered pair once,
e1 the earlier. Pairs whose spans overlap or are equal are not candidates. The text comes from
`model_text`, as for training: blind models get their placeholders (placeholders[i] on the
type-i entity), markers models `[E1]` around the X entity; the sentence's other entities stay
as text.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Sequence

from biobert_tf.tasks.relation import data as re_data
from biobert_tf.tasks.relation.data import RelationExample, Span
from biobert_tf.tasks.relation.inputs import has_sentinel
from biobert_tf.tasks.relation.model import RelationSpec
from biobert_tf.tasks.relation.task import model_text

Entity = tuple[int, int, str]


@dataclasses.dataclass(frozen=True)
class Pair:
    """Two entities of a sentence (indices into its entity list; e1 of the spec's first type)
    and the sentence as the RE model reads it."""

    e1: int
    e2: int
    text: str


def pair_text(sentence: str, e1: Span, e2: Span, spec: RelationSpec) -> str:
    """`sentence` with the entities at spans `e1` and `e2` (disjoint) as the model reads them."""
    example = RelationExample(sentence, "", e1, e2, "", "", 0)
    placeholders = spec.pair_placeholders
    if placeholders is None:
        return model_text(example, spec.entity_mode)
    # Blinded first, so that a markers model trained on blinded data sees `[E1] @GENE$ [/E1]`.
    return model_text(re_data.blind(example, placeholders), spec.entity_mode, placeholders)


def _index_pairs(entities: Sequence[Entity], spec: RelationSpec) -> list[tuple[int, int]]:
    """(e1, e2) entity indices of the spec's types, overlapping spans included."""
    first, second = (name.casefold() for name in (spec.entity_types[0], spec.entity_types[-1]))
    xs = [i for i, (_, _, kind) in enumerate(entities) if kind.casefold() == first]
    if first != second:
        ys = [i for i, (_, _, kind) in enumerate(entities) if kind.casefold() == second]
        return list(itertools.product(xs, ys))
    return [(i, j) if _span(entities[i]) <= _span(entities[j]) else (j, i)
            for i, j in itertools.combinations(xs, 2)]


def _span(entity: Entity) -> Span:
    return entity[0], entity[1]


def _overlap(a: Entity, b: Entity) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def candidate_pairs(sentence: str, entities: Sequence[Entity], spec: RelationSpec
                    ) -> tuple[list[Pair], int]:
    """The candidate pairs of `sentence` for the RE model `spec` describes, in entity order,
    and how many were left out because their text holds a character the encoder reserves
    (U+E000..U+E003). A spec without entity types is a ValueError."""
    if not spec.entity_types:
        raise ValueError("the relation model names no entity types: retrain it with "
                         "--entity_types=X,Y")
    pairs, skipped = [], 0
    for i, j in _index_pairs(entities, spec):
        if _overlap(entities[i], entities[j]):
            continue
        text = pair_text(sentence, _span(entities[i]), _span(entities[j]), spec)
        if has_sentinel(text):
            skipped += 1
            continue
        pairs.append(Pair(i, j, text))
    return pairs, skipped
