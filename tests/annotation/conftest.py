"""Annotated documents of every shape the writers meet: PubMed's title + abstract, one line of
text under no title, BioC passages with gaps between their offsets, one without entities; with
non-ASCII and astral-plane characters, tabs and line breaks inside the text, overlapping
mentions and the same span under two types."""

import pytest

from biobert_tf.annotation.document import (AnnotatedDocument, Entity, Passage, Relation,
                                            merge_entities, number_relations)

TITLE = "BRCA1 mutations in α-thalassemia 😀 carriers."
ABSTRACT = "We studied BRCA1\tand breast cancer in naïve 😀 patients.\nBRCA2 too."


def annotated(doc_id, passages, mentions, relations=()):
    """A document whose entities are `mentions` ((passage index, mention, type, score, model),
    each the mention's first occurrence in that passage), merged and numbered, and whose
    relations are `relations` ((mention index, mention index, type, score) of `mentions`)."""
    found = []
    for index, mention, kind, score, model in mentions:
        passage = passages[index]
        start = passage.offset + passage.text.index(mention)
        found.append(Entity("", start, start + len(mention), mention, kind, score, model))
    entities = merge_entities(found)
    ids = {(e.start, e.end, e.type): e.id for e in entities}

    def entity_id(k):
        return ids[(found[k].start, found[k].end, found[k].type)]
    related = [Relation("", kind, entity_id(a), entity_id(b), score, "gad")
               for a, b, kind, score in relations]
    return AnnotatedDocument(doc_id, f"docs.xml:{len(doc_id)}", passages, entities,
                             number_relations(related))


def pubmed_like():
    """A title at 0 and its abstract after one space, as PubMed and PubTator count."""
    passages = [Passage("title", 0, TITLE), Passage("abstract", len(TITLE) + 1, ABSTRACT)]
    return annotated("31452104", passages, [
        (0, "BRCA1", "Gene", 0.9731, "bc2gm"), (0, "α-thalassemia", "Disease", 0.8, "ncbi"),
        (0, "thalassemia", "Disease", 0.5, "bc5cdr"), (1, "BRCA1", "Gene", 0.9, "bc2gm"),
        (1, "BRCA1", "Chemical", 0.2, "bc5cdr"), (1, "breast cancer", "Disease", 0.99, "ncbi"),
        (1, "breast cancer", "Disease", 0.95, "bc5cdr"), (1, "cancer", "Disease", 0.6, "ncbi"),
        (1, "BRCA2", "Gene", 1.0, "bc2gm")],
        [(3, 5, "Association", 0.8123), (0, 1, "Association", 0.5), (8, 5, "Association", 1.0)])


def title_less():
    """One line of text at offset 0, as --predict_file has it."""
    text = "Naïve T cells in α-thalassemia\u2028patients 😀 with BRCA1 mutations."
    return annotated("7", [Passage("text", 0, text)], [
        (0, "α-thalassemia", "Disease", 0.9, "ncbi"), (0, "BRCA1", "Gene", 0.7, "bc2gm")])


def bioc_like():
    """BioC passages whose offsets leave gaps (and do not start at 0), the title among them."""
    passages = [Passage("front", 12, "Case 😀 report"), Passage("title", 40, "BRCA2 and cancer"),
                Passage("paragraph", 100, "A carrier\rof BRCA2 with ovarian cancer."),
                Passage("paragraph", 250, "")]
    return annotated("PMC123", passages, [
        (0, "report", "Other", 0.3, "x"), (1, "BRCA2", "Gene", 0.9, "bc2gm"),
        (1, "cancer", "Disease", 0.8, "ncbi"), (2, "BRCA2", "Gene", 0.95, "bc2gm"),
        (2, "ovarian cancer", "Disease", 0.9, "ncbi")], [(3, 4, "Association", 0.7)])


def without_entities():
    return AnnotatedDocument("8", "docs.txt:8", [Passage("text", 0, "No entity here.")])


@pytest.fixture
def documents():
    return [pubmed_like(), title_less(), bioc_like(), without_entities()]

