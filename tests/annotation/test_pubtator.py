"""PubTator: every offset slices TITLE + " " + ABSTRACT to its mention, whatever the passages;
relations come back; the strict parser names the line of any deviation."""

import io

import pytest

from biobert_tf.annotation import formats, pubtator
from biobert_tf.annotation.document import AnnotatedDocument, Entity, Passage, Relation

BREAKS = str.maketrans("\t\n\r\u2028", "    ")


def written(documents):
    out = io.StringIO()
    formats.write(documents, out, formats.FORMATS["pubtator"])
    return out.getvalue()


def test_every_offset_slices_its_mention_and_relations_come_back(documents):
    parsed = pubtator.parse(written(documents))
    assert [p.id for p in parsed] == [d.id for d in documents]
    for doc, read in zip(documents, parsed):
        assert [(m.text, m.type, m.identifier) for m in read.mentions] == [
            (e.text.translate(BREAKS), e.type, "-1") for e in doc.entities]
        assert all(read.text[m.start:m.end] == m.text for m in read.mentions)
        assert list(read.relations) == [(r.type, r.e1, r.e2, r.score) for r in doc.relations]
    assert sum(len(p.mentions) for p in parsed) == 15 and parsed[0].relations


def test_title_and_abstract_are_the_passages_with_tabs_and_line_breaks_as_spaces(documents):
    pubmed, title_less, bioc, empty = pubtator.parse(written(documents))
    # PubMed's offsets already count over title + " " + abstract: PubTator's are the same.
    assert pubmed.text == (documents[0].passages[0].text + " " +
                           documents[0].passages[1].text).translate(BREAKS)
    assert [m[:2] for m in pubmed.mentions] == [(e.start, e.end) for e in documents[0].entities]
    # One passage under no title: one more than the passage's offsets.
    assert title_less.title == ""
    assert title_less.abstract == documents[1].passages[0].text.translate(BREAKS)
    assert [m[:2] for m in title_less.mentions] == [(e.start + 1, e.end + 1)
                                                    for e in documents[1].entities]
    # The title passage wherever it is, the others joined by spaces, gaps closed.
    assert bioc.title == "BRCA2 and cancer"
    assert bioc.abstract == "Case 😀 report A carrier of BRCA2 with ovarian cancer. "
    assert [m[:3] for m in bioc.mentions] == [
        (24, 30, "report"), (0, 5, "BRCA2"), (10, 16, "cancer"), (44, 49, "BRCA2"),
        (55, 69, "ovarian cancer")]
    assert empty.mentions == () and empty.abstract == "No entity here."


def test_the_bytes_of_a_document():
    doc = AnnotatedDocument("17", "x:1", [Passage("title", 0, "A 😀 title"),
                                           Passage("abstract", 10, "Its\tabstract.")])
    doc.entities = [Entity("T0", 2, 3, "😀", "Emoji", 0.5, "m"),
                    Entity("T1", 14, 22, "abstract", "Thing", 0.12345, "m")]
    doc.relations = [Relation("R0", "Is", "T1", "T0", 0.98765, "m")]
    assert pubtator.document(doc) == (
        "17|t|A 😀 title\n17|a|Its abstract.\n17\t2\t3\t😀\tEmoji\t-1\n"
        "17\t14\t22\tabstract\tThing\t-1\n17\tIs\tT1\tT0\t0.9877\n\n")


@pytest.mark.parametrize("doc_id,reason", [
    ("12345", None), ("PMC 1.2-x", None), ("", "empty id"), ("a|b", "'|'"), ("a\tb", "tab"),
    ("a\nb", "line break"), ("a\u2028b", "line break")])
def test_ids_pubtator_cannot_write_are_a_format_problem(doc_id, reason):
    doc = AnnotatedDocument(doc_id, "x:1", [Passage("text", 0, "Text.")])
    problem = formats.format_problem(doc, formats.FORMATS["pubtator"])
    assert problem is None if reason is None else reason in problem
    assert formats.format_problem(doc, formats.FORMATS["bioc_json"]) is None
    assert formats.format_problem(doc, formats.FORMATS["jsonl"]) is None
    if reason:
        with pytest.raises(ValueError, match="cannot be written in PubTator"):
            pubtator.document(doc)


def test_entities_numbered_otherwise_than_by_position_are_refused(documents):
    doc = documents[1]
    doc.entities.reverse()
    with pytest.raises(ValueError, match="^document 7: entity 0 is T1, not T0$"):
        pubtator.document(doc)


GOOD = "9|t|Title\n9|a|BRCA1 cancer\n9\t6\t11\tBRCA1\tGene\t-1\n9\t12\t18\tcancer\tDisease\tD1\n" \
       "9\tCause\tT0\tT1\t0.5\n\n"


def test_the_parser_reads_a_good_document():
    [doc] = pubtator.parse(GOOD)
    assert doc == pubtator.ParsedDocument(
        "9", "Title", "BRCA1 cancer",
        (pubtator.Mention(6, 11, "BRCA1", "Gene", "-1"),
         pubtator.Mention(12, 18, "cancer", "Disease", "D1")),
        (pubtator.ParsedRelation("Cause", "T0", "T1", 0.5),))
    assert pubtator.parse("") == []


@pytest.mark.parametrize("old,new,error", [
    ("\n\n", "\n", r"^line 5: the last document has no blank line after it$"),
    ("0.5\n\n", "0.5\n", r"^line 5: the last document has no blank line after it$"),
    ("0.5\n\n", "0.5\n\n\n", r"^line 7: a blank line that ends no document$"),
    ("\n\n", "\n\nx", r"^line 7: the text does not end with a line break$"),
    ("\t6\t11\t", "\t7\t12\t", r"^line 3: \[7, 12\) is 'RCA1 ' in the text, not 'BRCA1'$"),
    ("\t6\t11\t", "\t06\t11\t", r"^line 3: offsets '06', '11' are not numbers$"),
    ("\t12\t18\t", "\t12\t19\t", r"^line 4: \[12, 19\) is 'cancer' in the text"),
    ("\tBRCA1\tGene\t-1", "\tBRCA1", r"^line 3: 4 tab-separated columns, not 6 "),
    ("\tGene\t-1", "\tGene\t", r"^line 3: an empty type or identifier$"),
    ("9\t12", "8\t12", r"^line 4: id '8' is not the document's '9'$"),
    ("9|a|", "8|a|", r"^line 2: id '8' is not the title's '9'$"),
    ("9|a|", "9|b|", r"^line 2: not an ID\|a\|TEXT line"),
    ("Title", "Ti\ttle", r"^line 1: not an ID\|t\|TEXT line without tabs"),
    ("Title", "Ti\rtle", r"^line 1: a line break other than \\n$"),
    ("T0\tT1", "T0\tT2", r"^line 5: 'T2' is not a mention of the document \(T0..T1\)$"),
    ("T0\tT1", "T0\t1", r"^line 5: '1' is not a mention"),
    ("0.5", "1.5", r"^line 5: not a relation TYPE, ID1, ID2, SCORE in \[0, 1\]$"),
    ("0.5", "high", r"^line 5: not a relation"),
    ("9\tCause", "9\tCause\tx", r"^line 5: offsets 'Cause', 'x' are not numbers$"),
    ("9\t6\t11\tBRCA1\tGene\t-1\n", "", r"^line 4: 'T1' is not a mention .*\(T0..T0\)$"),
    (GOOD, "9|t|Title\n\n", r"^line 1: a document needs a title and an abstract line$"),
    ("9|t|Title\n9|a|BRCA1 cancer\n", "9|t|Title\n", r"^line 2: not an ID\|a\|TEXT"),
])
def test_the_parser_names_the_line_of_any_deviation(old, new, error):
    assert GOOD.count(old) == 1
    with pytest.raises(ValueError, match=error):
        pubtator.parse(GOOD.replace(old, new))
