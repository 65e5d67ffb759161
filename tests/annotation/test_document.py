"""The document model: merging several models' entities, numbering relations, checking offsets;
and the jsonl record, which carries all of it."""

import dataclasses
import io
import itertools
import json

import pytest

from biobert_tf.annotation import formats
from biobert_tf.annotation.document import (AnnotatedDocument, Entity, Passage, Relation,
                                            merge_entities, number_relations)

FOUND = [Entity("x", 10, 15, "BRCA1", "Gene", 0.7, "bc2gm"),
         Entity("x", 0, 6, "cancer", "Disease", 0.61, "ncbi"),
         Entity("x", 10, 15, "BRCA1", "Gene", 0.9, "gnormplus"),
         Entity("x", 10, 15, "BRCA1", "Chemical", 0.2, "bc5cdr"),
         Entity("x", 0, 6, "cancer", "Disease", 0.6, "bc5cdr+ncbi"),
         Entity("x", 2, 6, "ncer", "Disease", 0.1, "ncbi")]


def test_merge_keeps_one_entity_per_span_and_type_with_the_best_score_and_all_models():
    assert merge_entities(FOUND) == [
        Entity("T0", 0, 6, "cancer", "Disease", 0.61, "bc5cdr+ncbi"),
        Entity("T1", 2, 6, "ncer", "Disease", 0.1, "ncbi"),  # an overlap is kept
        Entity("T2", 10, 15, "BRCA1", "Chemical", 0.2, "bc5cdr"),  # so is another type
        Entity("T3", 10, 15, "BRCA1", "Gene", 0.9, "bc2gm+gnormplus")]


def test_merge_gives_the_same_ids_whatever_order_the_models_ran_in():
    merged = {tuple(merge_entities(order)) for order in itertools.permutations(FOUND)}
    assert len(merged) == 1


def test_relations_are_numbered_by_their_entities_then_model_and_type():
    found = [Relation("", "Binds", "T10", "T2", 0.5, "re"),
             Relation("", "Cause", "T2", "T10", 0.9, "re"),
             Relation("", "Binds", "T2", "T10", 0.9, "re"),
             Relation("", "Binds", "T2", "T10", 0.9, "a")]
    assert [(r.id, r.e1, r.e2, r.model, r.type) for r in number_relations(found)] == [
        ("R0", "T2", "T10", "a", "Binds"), ("R1", "T2", "T10", "re", "Binds"),
        ("R2", "T2", "T10", "re", "Cause"), ("R3", "T10", "T2", "re", "Binds")]


def test_check_offsets_names_an_entity_whose_span_is_not_its_text(documents):
    for doc in documents:
        doc.check_offsets()
    doc = documents[2]  # BioC passages with gaps: document offsets, not passage ones
    wrong = dataclasses.replace(doc.entities[1], start=doc.entities[1].start + 1,
                                end=doc.entities[1].end + 1)
    doc.entities[1] = wrong
    with pytest.raises(ValueError, match=rf"^document PMC123: entity T1 \[{wrong.start}, "
                                         rf"{wrong.end}\) 'BRCA2' is 'RCA2 ' in the text$"):
        doc.check_offsets()
    doc.entities[1] = dataclasses.replace(wrong, start=30, end=35)  # between two passages
    with pytest.raises(ValueError, match="entity T1 .* is None in the text"):
        doc.check_offsets()


def test_check_offsets_names_a_relation_to_a_missing_entity(documents):
    doc = documents[0]
    doc.relations.append(Relation("R9", "Association", "T0", "T99", 0.5, "gad"))
    with pytest.raises(ValueError, match="^document 31452104: relation R9 names an entity it "
                                         "lacks$"):
        doc.check_offsets()


def test_the_jsonl_record_is_one_line_with_every_field(documents):
    out = io.StringIO()
    formats.write(documents, out, formats.FORMATS["jsonl"])
    lines = out.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == len(documents) + 1
    assert "α-thalassemia" in lines[0]  # not \u escapes
    for line, doc in zip(lines, documents):
        record = json.loads(line)
        assert record == {
            "id": doc.id, "source": doc.source,
            "passages": [{"type": p.kind, "offset": p.offset, "text": p.text}
                         for p in doc.passages],
            "entities": [dataclasses.asdict(e) for e in doc.entities],
            "relations": [dataclasses.asdict(r) for r in doc.relations]}
        read = AnnotatedDocument(record["id"], record["source"],
                                 [Passage(p["type"], p["offset"], p["text"])
                                  for p in record["passages"]],
                                 [Entity(**e) for e in record["entities"]],
                                 [Relation(**r) for r in record["relations"]])
        read.check_offsets()
