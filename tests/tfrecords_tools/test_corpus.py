import collections
import gzip
import re
import time
import tracemalloc
from xml.sax.saxutils import escape

import pytest
from helpers import corpus_lines, shared_file
from helpers import LINE_ENDINGS, with_line_endings

from tfrecords_tools.corpus import (
    BadDocument, CorpusError, CorpusStats, Document, DocumentFiles, Passage, expand_input_files,
    filter_documents, mix_corpora, parse_weighted_inputs, read_documents, read_items, split_sentences)

PUBMED_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2024//EN" "pubmed.dtd">
<PubmedArticleSet>
  <PubmedArticle>
    <MedlineCitation Status="MEDLINE" Owner="NLM">
      <PMID Version="1">111</PMID>
      <Article PubModel="Print">
        <ArticleTitle>Growth of <i>E. coli</i> on Ca<sup>2+</sup> media.</ArticleTitle>
        <Abstract>
          <AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND"><i>E. coli</i> grows fast.
            It needs Ca<sup>2+</sup>.</AbstractText>
          <AbstractText Label="RESULTS">Growth rose 2.5-fold (p &lt; 0.05).</AbstractText>
        </Abstract>
      </Article>
      <CommentsCorrectionsList><CommentsCorrections><PMID>999</PMID></CommentsCorrections>
      </CommentsCorrectionsList>
    </MedlineCitation>
  </PubmedArticle>
  <DeleteCitation><PMID Version="1">5</PMID></DeleteCitation>
  <PubmedArticle>
    <MedlineCitation><PMID Version="1">222</PMID>
      <Article><ArticleTitle>A title-only citation.</ArticleTitle></Article>
    </MedlineCitation>
  </PubmedArticle>
</PubmedArticleSet>
"""

BIOC_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE collection SYSTEM "BioC.dtd">
<collection><source>PMC</source><date>20240101</date><key>pmc.key</key>
  <document><id>PMC123</id>
    <passage><infon key="type">title</infon><offset>0</offset><text>BRCA1 in breast cancer</text></passage>
    <passage><infon key="type">paragraph</infon><offset>23</offset>
      <text>BRCA1 is a tumour suppressor. Mutations raise risk.</text>
      <annotation id="1"><text>BRCA1</text></annotation>
    </passage>
  </document>
  <document><id>PMC456</id>
    <passage><offset>0</offset>
      <sentence><offset>0</offset><text>First sentence.</text></sentence>
      <sentence><offset>16</offset><text>Second sentence.</text></sentence>
    </passage>
  </document>
</collection>
"""


def write(path, text: str, compress: bool = False):
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return str(path)


# --- formats ---

def test_text_format_is_googles(tmp_path):
    path = write(tmp_path / "c.txt", "  First sentence.  \nSecond one.\n\n\n\nOther doc.\n \t\nLast.\nEnd.")
    stats = CorpusStats()
    docs = list(read_documents(path, "text", stats=stats))
    assert [d.sentences for d in docs] == [["First sentence.", "Second one."], ["Other doc."],
                                           ["Last.", "End."]]
    assert [d.source for d in docs] == [f"{path}:1", f"{path}:6", f"{path}:8"]
    assert (stats.documents, stats.sentences) == (3, 5)


def test_lines_format_splits_each_line(tmp_path):
    path = write(tmp_path / "c.txt", "\ufeff Title one. It works (Fig. 2). Yes. \n\nSecond doc here.\n")
    docs = list(read_documents(path, "lines"))
    assert docs == [
        Document(f"{path}:1", ["Title one.", "It works (Fig. 2).", "Yes."], f"{path}:1",
                 [Passage("text", 0, "Title one. It works (Fig. 2). Yes.", ((0, 10), (11, 29), (30, 34)))]),
        Document(f"{path}:3", ["Second doc here."], f"{path}:3",
                 [Passage("text", 0, "Second doc here.", ((0, 16),))])]


def test_text_format_is_one_passage_of_its_lines(tmp_path):
    path = write(tmp_path / "c.txt", "  First sentence.  \nSecond one.\n\nOther doc.\n")
    assert [d.passages for d in read_documents(path, "text")] == [
        [Passage("text", 0, "First sentence. Second one.", ((0, 15), (16, 27)))],
        [Passage("text", 0, "Other doc.", ((0, 10),))]]


def test_pubmed_xml_title_sections_and_inline_markup(tmp_path):
    stats = CorpusStats()
    docs = list(read_documents(write(tmp_path / "p.xml", PUBMED_XML), "pubmed_xml", stats=stats))
    assert [d.doc_id for d in docs] == ["111", "222"]
    assert docs[0].sentences == ["Growth of E. coli on Ca2+ media.", "E. coli grows fast.", "It needs Ca2+.",
                                 "Growth rose 2.5-fold (p < 0.05)."]
    assert docs[1].sentences == ["A title-only citation."]
    assert [d.source.rsplit(":", 1)[1] for d in docs] == ["4", "20"]
    assert (stats.documents, stats.empty) == (2, 0)


def test_pubmed_passages_are_title_and_abstract_at_pubtator_offsets(tmp_path):
    docs = list(read_documents(write(tmp_path / "p.xml", PUBMED_XML), "pubmed_xml"))
    title = "Growth of E. coli on Ca2+ media."
    abstract = "E. coli grows fast. It needs Ca2+. Growth rose 2.5-fold (p < 0.05)."  # sections joined
    assert docs[0].passages == [Passage("title", 0, title, ((0, 32),)),
                                Passage("abstract", 33, abstract, ((0, 19), (20, 34), (35, 67)))]
    assert docs[1].passages == [Passage("title", 0, "A title-only citation.", ((0, 22),))]
    for doc in docs:
        assert_passages_hold_the_sentences(doc)
        assert_pubtator_offsets(doc)


def test_pubmed_abstract_without_title_starts_at_one(tmp_path):
    path = write(tmp_path / "p.xml", """<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>9</PMID>
<Article><ArticleTitle></ArticleTitle><Abstract><AbstractText Label="A">  </AbstractText>
<AbstractText>Only an abstract. Two sentences.</AbstractText></Abstract></Article>
</MedlineCitation></PubmedArticle></PubmedArticleSet>""")
    [doc] = read_documents(path)
    assert doc.passages == [Passage("title", 0, "", ()),
                            Passage("abstract", 1, "Only an abstract. Two sentences.", ((0, 17), (18, 32)))]
    assert doc.sentences == ["Only an abstract.", "Two sentences."]
    assert_pubtator_offsets(doc)


def test_pubmed_book_article_and_empty_record(tmp_path):
    path = write(tmp_path / "p.xml", """<PubmedArticleSet>
<PubmedBookArticle><BookDocument><PMID>7</PMID><ArticleTitle>A chapter.</ArticleTitle>
<Abstract><AbstractText>It covers genes. And more.</AbstractText></Abstract>
</BookDocument></PubmedBookArticle>
<PubmedArticle><MedlineCitation><PMID>8</PMID><Article><ArticleTitle/></Article></MedlineCitation>
</PubmedArticle>
</PubmedArticleSet>""")
    stats = CorpusStats()
    assert list(read_documents(path, stats=stats)) == [
        Document("7", ["A chapter.", "It covers genes.", "And more."], f"{path}:2",
                 [Passage("title", 0, "A chapter.", ((0, 10),)),
                  Passage("abstract", 11, "It covers genes. And more.", ((0, 16), (17, 26)))])]
    assert (stats.documents, stats.empty) == (1, 1) and "1 empty records dropped" in str(stats)


def test_bioc_passages_in_order(tmp_path):
    docs = list(read_documents(write(tmp_path / "b.xml", BIOC_XML), "bioc"))
    assert [d.doc_id for d in docs] == ["PMC123", "PMC456"]
    # the annotation's <text> is not a passage's
    assert docs[0].sentences == ["BRCA1 in breast cancer", "BRCA1 is a tumour suppressor.",
                                 "Mutations raise risk."]
    assert docs[1].sentences == ["First sentence.", "Second sentence."]


def test_bioc_passages_keep_their_offsets_and_types(tmp_path):
    docs = list(read_documents(write(tmp_path / "b.xml", BIOC_XML), "bioc"))
    assert docs[0].passages == [
        Passage("title", 0, "BRCA1 in breast cancer", ((0, 22),)),
        Passage("paragraph", 23, "BRCA1 is a tumour suppressor. Mutations raise risk.", ((0, 29), (30, 51)))]
    # sentence-level: the sentences joined by spaces; no type infon
    assert docs[1].passages == [
        Passage("passage", 0, "First sentence. Second sentence.", ((0, 15), (16, 32)))]
    for doc in docs:
        assert_passages_hold_the_sentences(doc)


def bioc_document(*passages: str) -> str:
    return (f"<collection><document><id>D1</id>{''.join(passages)}</document>\n"
            "<document><id>D2</id><passage><text>Next.</text></passage></document></collection>")


def test_bioc_passage_without_offset_follows_the_previous_one(tmp_path):
    path = write(tmp_path / "b.xml", bioc_document(
        "<passage><text>Title here</text></passage>",
        "<passage><offset>20</offset><text>One.</text></passage>",
        "<passage><infon key='type'>figure</infon></passage>",
        "<passage><text>Last one.</text></passage>"))
    assert [(p.kind, p.offset, p.text) for p in next(read_items(path)).passages] == [
        ("passage", 0, "Title here"), ("passage", 20, "One."), ("figure", 25, ""),
        ("passage", 26, "Last one.")]


@pytest.mark.parametrize("offset, reason", [
    ("x1", "passage 2: <offset> 'x1' is not an integer"),
    ("", "passage 2: <offset> '' is not an integer"),
    ("1" * 30, "passage 2: <offset> '11111111111111111111' is not an integer"),
    ("-4", "passage 2: <offset> -4 is negative"),
    ("9", "passage 2: <offset> 9 overlaps the previous passage, which ends at 10"),
])
def test_bioc_bad_passage_offset_is_a_bad_document(tmp_path, offset, reason):
    path = write(tmp_path / "b.xml", bioc_document(
        "<passage><offset>0</offset><text>Title here</text></passage>",
        f"<passage><offset>{offset}</offset><text>One.</text></passage>"))
    items = list(read_items(path))
    assert items[0] == BadDocument(f"{path}:1", reason, "D1") and items[1].doc_id == "D2"
    with pytest.raises(CorpusError, match=f"^{re.escape(f'{path}:1: {reason}')} \\(--skip_bad_documents"):
        list(read_documents(path))
    assert [d.doc_id for d in read_documents(path, skip_bad_documents=True)] == ["D2"]


def test_read_items_yields_bad_and_empty_documents(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_bytes(b"Good one.\nBad \xff.\n")
    assert list(read_items(str(lines), "lines"))[1] == BadDocument(
        f"{lines}:2", "not valid UTF-8 (byte 0xff at column 5)", f"{lines}:2")
    text = tmp_path / "text.txt"  # the reason names the bad line, the id the document's first
    text.write_bytes(b"A.\nB \xfe.\n\nC.\n")
    assert [str(item) if isinstance(item, BadDocument) else item.sentences
            for item in read_items(str(text), "text")] == [
        f"{text}:2: not valid UTF-8 (byte 0xfe at column 3)", ["C."]]
    assert next(read_items(str(text), "text")).doc_id == f"{text}:1"
    pubmed = write(tmp_path / "p.xml", """<PubmedArticleSet>
<PubmedArticle><MedlineCitation><Article><ArticleTitle>T.</ArticleTitle></Article></MedlineCitation>
</PubmedArticle>
<PubmedArticle><MedlineCitation><PMID>8</PMID><Article/></MedlineCitation></PubmedArticle>
</PubmedArticleSet>""")
    assert list(read_items(pubmed)) == [
        BadDocument(f"{pubmed}:2", "<PubmedArticle> without a PMID"),
        Document("8", [], f"{pubmed}:4", [Passage("title", 0, "", ())])]


# --- passages of real abstracts, in every format ---

def assert_passages_hold_the_sentences(doc: Document) -> None:
    """The sentences are the passages' spans, in order; only whitespace lies outside the spans."""
    assert doc.sentences == [p.text[s:e] for p in doc.passages for s, e in p.sentences]
    for passage in doc.passages:
        bounds = [0, *(i for span in passage.sentences for i in span), len(passage.text)]
        assert bounds == sorted(bounds)
        assert all(s < e for s, e in passage.sentences)
        assert not "".join(passage.text[a:b] for a, b in zip(bounds[::2], bounds[1::2])).strip()
    assert all(a.end <= b.offset for a, b in zip(doc.passages, doc.passages[1:]))


def assert_pubtator_offsets(doc: Document) -> None:
    """PubTator's document text, title + " " + abstract, holds every sentence at its offset."""
    title, *abstract = doc.passages
    assert title.kind == "title" and [p.kind for p in abstract] in ([], ["abstract"])
    text = title.text + " " + "".join(p.text for p in abstract)
    for passage in doc.passages:
        for s, e in passage.sentences:
            assert text[passage.offset + s:passage.offset + e] == passage.text[s:e]


@pytest.fixture(scope="module")
def real_abstracts():
    """Every real abstract of ../shared/data's corpus as sentences: the title, then two sections."""
    documents = []
    for abstract in corpus_lines():
        title, *rest = split_sentences(abstract)
        half = (len(rest) + 1) // 2
        documents.append((title, " ".join(rest[:half]), " ".join(rest[half:])))
    return documents


def pubmed_file(documents) -> str:
    citations = "".join(
        f"<PubmedArticle><MedlineCitation><PMID>{i}</PMID><Article><ArticleTitle>{escape(title)}"
        f"</ArticleTitle><Abstract><AbstractText Label='BACKGROUND'>\n<i>{escape(one)}</i>\n</AbstractText>"
        f"<AbstractText Label='RESULTS'>{escape(two)}</AbstractText></Abstract></Article>"
        "</MedlineCitation></PubmedArticle>\n"
        for i, (title, one, two) in enumerate(documents, 1))
    return f"<PubmedArticleSet>\n{citations}</PubmedArticleSet>\n"


def bioc_file(documents) -> str:
    """Title and first section as passages at PubTator's offsets, the second sentence by sentence."""
    records = []
    for i, (title, one, two) in enumerate(documents, 1):
        sentences = "".join(f"<sentence><text>{escape(s)}</text></sentence>" for s in split_sentences(two))
        records.append(
            f"<document><id>{i}</id><passage><infon key='type'>title</infon><offset>0</offset>"
            f"<text>{escape(title)}</text></passage><passage><infon key='type'>abstract</infon><offset>"
            f"{len(title) + 1}</offset><text>{escape(one)}</text></passage><passage>{sentences}</passage>"
            "</document>\n")
    return f"<collection>\n{''.join(records)}</collection>\n"


def test_passages_of_real_abstracts_hold_the_sentences_in_every_format(tmp_path, real_abstracts):
    expected = [[title, *split_sentences(one), *split_sentences(two)] for title, one, two in real_abstracts]
    files = {
        "lines": str(shared_file("corpus", "bioasq_abstracts.txt")),
        "text": write(tmp_path / "c.txt", "\n\n".join("\n".join(s) for s in expected) + "\n"),
        "pubmed_xml": write(tmp_path / "p.xml.gz", pubmed_file(real_abstracts), compress=True),
        "bioc": write(tmp_path / "b.xml", bioc_file(real_abstracts)),
    }
    for input_format, path in files.items():
        docs = list(read_documents(path, input_format))
        assert [d.sentences for d in docs] == expected, input_format  # what pretraining gets
        for doc in docs:
            assert_passages_hold_the_sentences(doc)
            if input_format == "pubmed_xml":
                assert_pubtator_offsets(doc)
    bioc = list(read_documents(files["bioc"]))
    assert [p.kind for p in bioc[0].passages] == ["title", "abstract", "passage"]
    assert all(doc.passages[2].offset == doc.passages[1].end + 1 for doc in bioc)


def test_bioc_collection_on_one_long_line(tmp_path):
    # Fed to the parser in bounded pieces: a one-line 150 KB file still parses.
    body = "".join(f"<document><id>d{i}</id><passage><text>Sentence {i}. X{'x' * 1000}.</text></passage>"
                   "</document>" for i in range(150))
    docs = list(read_documents(write(tmp_path / "one.xml", f"<collection>{body}</collection>")))
    assert len(docs) == 150 and docs[-1].sentences[0] == "Sentence 149."


@pytest.mark.parametrize("name, text, expected_format", [
    ("c.txt", "One.\nTwo.\n\n\nThree.\nFour.\n", "text"),
    ("c.txt.gz", "One. Two.\n\nThree.\nFour.", "text"),
    ("c.txt", "One. Two.\nThree.\n", "lines"),
    ("c.txt.gz", "One. Two.\n\nThree.\n\nFour.\n", "lines"),  # blank lines, but no multi-line block
    ("p.xml.gz", PUBMED_XML, "pubmed_xml"),
    ("b.xml", BIOC_XML, "bioc"),
])
def test_auto_detects_the_format(tmp_path, name, text, expected_format):
    path = write(tmp_path / name, text, compress=name.endswith(".gz"))
    docs = list(read_documents(path))
    assert len(docs) >= 2 and docs == list(read_documents(path, expected_format))
    if expected_format in ("text", "lines"):  # the two read these files differently
        other = "lines" if expected_format == "text" else "text"
        assert docs != list(read_documents(path, other))


def test_explicit_xml_format_checks_the_root(tmp_path):
    path = write(tmp_path / "b.xml", BIOC_XML)
    with pytest.raises(CorpusError, match=r"b\.xml:3: root element is <collection>, expected <Pubmed"):
        list(read_documents(path, "pubmed_xml"))
    with pytest.raises(ValueError, match="input_format must be one of"):
        list(read_documents(path, "json"))


def test_real_corpus_as_lines():
    path = str(shared_file("corpus", "bioasq_abstracts.txt"))
    stats = CorpusStats()
    docs = list(read_documents(path, stats=stats))  # auto: one abstract per line
    assert stats.documents == len(docs) == 1136 and stats.skipped == stats.empty == 0
    assert 10_000 < stats.sentences < 12_500  # 11,316 with today's rules
    assert docs[0].sentences[:2] == [
        "Spermidine protects against α-synuclein neurotoxicity.",
        "As our society ages, neurodegenerative disorders like Parkinson`s disease (PD) are increasing in "
        "pandemic proportions."]
    assert docs[1].sentences[1].startswith("BACKGROUND: Zika virus (ZIKV; genus Flavivirus")
    assert "Aedes spp. mosquitoes" in docs[1].sentences[1]
    abbreviations = (" et al.", " e.g.", " i.e.", " Fig.", " vs.", " approx.", " ca.", " Dr.")
    assert not [s for d in docs for s in d.sentences if s.endswith(abbreviations)]


# --- errors and skipping ---

def test_non_utf8_line_names_file_and_line(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"Good one.\nGood two.\nBad \xff byte.\nGood four.\n")
    with pytest.raises(CorpusError, match=r"c\.txt:3: not valid UTF-8 \(byte 0xff at column 5\).*"
                                          r"documents read from this file before the error: 2"):
        list(read_documents(str(path), "lines"))


def test_skip_bad_documents_counts_them(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_bytes(b"Good one.\nBad \xff.\nGood three.\n")
    stats = CorpusStats()
    docs = list(read_documents(str(lines), "lines", skip_bad_documents=True, stats=stats))
    assert [d.sentences for d in docs] == [["Good one."], ["Good three."]]
    assert stats.skipped == 1 and stats.skip_reasons[0].startswith(f"{lines}:2: not valid UTF-8")

    text = tmp_path / "text.txt"  # the whole document around a bad line goes
    text.write_bytes(b"A.\nB.\n\nC \xfe.\nD.\n\nE.\n")
    docs = list(read_documents(str(text), "text", skip_bad_documents=True, stats=stats))
    assert [d.sentences for d in docs] == [["A.", "B."], ["E."]]
    assert stats.skipped == 2 and "text.txt:4" in stats.skip_reasons[1]
    assert "2 bad documents skipped" in str(stats)


def test_pubmed_article_without_pmid(tmp_path):
    path = write(tmp_path / "p.xml", PUBMED_XML.replace('<PMID Version="1">222</PMID>', ""))
    with pytest.raises(CorpusError, match=r"p\.xml:20: <PubmedArticle> without a PMID"):
        list(read_documents(path))
    stats = CorpusStats()
    assert [d.doc_id for d in read_documents(path, skip_bad_documents=True, stats=stats)] == ["111"]
    assert stats.skipped == 1


def test_truncated_gzip_stops_after_what_was_read(tmp_path):
    text = "".join(f"Document {i} is here. It has two sentences.\n" for i in range(3000))
    whole = gzip.compress(text.encode())
    path = tmp_path / "c.txt.gz"
    path.write_bytes(whole[:len(whole) // 2])
    docs = []
    with pytest.raises(CorpusError, match=r"c\.txt\.gz:\d+: truncated or corrupt gzip data") as error:
        for doc in read_documents(str(path), "lines", skip_bad_documents=True):
            docs.append(doc)
    assert docs and f"documents read from this file before the error: {len(docs)}" in str(error.value)
    assert docs[-1].sentences == [f"Document {len(docs) - 1} is here.", "It has two sentences."]


@pytest.mark.parametrize("input_format", ["lines", "pubmed_xml"])
def test_an_empty_gzip_file_is_an_error_not_an_empty_corpus(tmp_path, input_format):
    # Python's gzip module reads a 0-byte file as no data; gzip itself calls it truncated.
    path = tmp_path / "c.txt.gz"
    path.write_bytes(b"")
    with pytest.raises(CorpusError, match=r"c\.txt\.gz:1: truncated or corrupt gzip data "
                                          r"\(the file is empty\); documents read from this "
                                          r"file before the error: 0$"):
        list(read_documents(str(path), input_format))


@pytest.mark.parametrize("text, line", [
    ("<PubmedArticleSet>\n<PubmedArticle>\n<MedlineCitation>\n</Article>\n</PubmedArticleSet>\n", 4),
    ("<PubmedArticleSet>\n<PubmedArticle>\n", 3),  # truncated
    ("<collection><document><id>1</id>\n<passage><text>a & b</text></passage>", 2),
])
def test_malformed_xml_names_the_line(tmp_path, text, line):
    path = write(tmp_path / "bad.xml", text)
    with pytest.raises(CorpusError, match=rf"bad\.xml:{line}: malformed XML"):
        list(read_documents(path, skip_bad_documents=True))


@pytest.mark.parametrize("head, message", [
    ('<?xml version="1.0" encoding="x-nope"?>', "declares encoding 'x-nope'; corpus XML must be UTF-8"),
    ("<?xml version='1.0' encoding='ISO-8859-1'?>", "declares encoding 'ISO-8859-1'"),
    ('<?xml version="1.0" encoding="utf-16"?>', "declares encoding 'utf-16'"),
    ('<?xml version="1.0" encoding="rot13"?>', "declares encoding 'rot13'"),
    ("\ufeff", "a UTF-16 or UTF-32 byte-order mark"),
])
@pytest.mark.parametrize("name", ["b.xml", "b.xml.gz"])
def test_xml_in_another_encoding_is_one_clear_error(tmp_path, head, message, name):
    body = BIOC_XML.split("\n", 1)[1]
    data = (head.encode("utf-16") + body.encode("utf-16-le") if head == "\ufeff"
            else (head + "\n" + body).encode("utf-8"))
    (tmp_path / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(CorpusError, match=f"^{tmp_path / name}:1: {re.escape(message)}"):
        list(read_documents(str(tmp_path / name)))


@pytest.mark.parametrize("head", ["<?xml version='1.0' encoding='utf-8'?>", '\ufeff<?xml version="1.0"?>',
                                  '<?xml version="1.0" encoding="US-ASCII" standalone="yes"?>'])
def test_utf8_xml_declarations_read(tmp_path, head):
    path = write(tmp_path / "b.xml", BIOC_XML)
    expected = list(read_documents(path))
    write(tmp_path / "b.xml", head + "\n" + BIOC_XML.split("\n", 1)[1])
    assert list(read_documents(path)) == expected


def test_xml_memory_stays_constant(tmp_path):
    record = ("<PubmedArticle><MedlineCitation><PMID>{}</PMID><Article><ArticleTitle>T.</ArticleTitle>"
              "<Abstract><AbstractText>" + "Words of an abstract. " * 50 + "</AbstractText></Abstract>"
              "</Article></MedlineCitation></PubmedArticle>\n")
    records = "".join(record.format(i) for i in range(1000))  # 1.3 MB
    path = write(tmp_path / "big.xml", f"<PubmedArticleSet>\n{records}</PubmedArticleSet>\n")
    tracemalloc.start()
    count = sum(1 for _ in read_documents(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 1000 and peak < 1_000_000  # 12 MB when all are held


# --- sentence splitting ---

@pytest.mark.parametrize("text", [
    "Drugs, e.g. Aspirin, i.e. NSAIDs, help.",
    "Smith et al. Reported it.",
    "As shown in Fig. 2 and Figs. 3-4, see Ref. 5.",
    "Group A vs. Group B differed.",
    "We had approx. 50 cases, ca. 10 min, cf. Eq. 3.",
    "Dr. Smith saw patient No. 12.",
    "Significant (p < 0.05) at 3.5 mg per dose.",
    "E. coli, S. aureus and C. elegans were used.",
    "Work of J. R. R. Tolkien and N.R. Rose.",
    "Approved by the U.S. Food and Drug Administration.",
])
def test_splitter_keeps_abbreviations_together(text):
    assert split_sentences(text) == [text]


@pytest.mark.parametrize("text, expected", [
    ("It rose. It fell.", ["It rose.", "It fell."]),
    ("It rose by 5.1. 12 patients died.", ["It rose by 5.1.", "12 patients died."]),
    ("Why? Because! Done.", ["Why?", "Because!", "Done."]),
    ('He said "stop." Then (it ended.) And so on.', ['He said "stop."', "Then (it ended.)", "And so on."]),
    ("It rose (p < 0.05). mTORC1 fell. p53 rose.", ["It rose (p < 0.05).", "mTORC1 fell.", "p53 rose."]),
    ("  Spaces  around.   Many.  ", ["Spaces  around.", "Many."]),
    ("", []),
])
def test_splitter_splits_sentences(text, expected):
    assert split_sentences(text) == expected


# --- filtering, mixing, inputs ---

def docs_of(*texts: str) -> list[Document]:
    return [Document(str(i), [text], f"mem:{i}") for i, text in enumerate(texts)]


def test_filter_by_regex_and_terms(tmp_path):
    docs = docs_of("BRCA1 and breast cancer.", "IL-2-induced growth.", "The IL-21 receptor.",
                   "Weather report.", "Kinase activity of brca1.")
    terms = tmp_path / "terms.txt"
    terms.write_text("il-2\nBreast Cancer\n\n")
    assert [d.doc_id for d in filter_documents(docs, terms_file=str(terms))] == ["0", "1"]
    assert [d.doc_id for d in filter_documents(docs, pattern=r"BRCA\d")] == ["0"]
    assert [d.doc_id for d in filter_documents(docs, pattern=r"(?i)brca\d|weather",
                                               terms_file=str(terms))] == ["0", "1", "3", "4"]
    with pytest.raises(ValueError, match="needs a pattern or a terms_file"):
        list(filter_documents(docs))


def test_mix_realises_the_weights_and_reads_everything():
    big = docs_of(*(f"big {i}" for i in range(3000)))
    small = docs_of(*(f"small {i}" for i in range(200)))
    mixed = list(mix_corpora([(big, 0.7), (small, 0.3)], seed=3))
    counts = collections.Counter(d.sentences[0].split()[0] for d in mixed)
    assert abs(counts["big"] / len(mixed) - 0.7) < 0.02
    assert {d.sentences[0] for d in mixed} >= {d.sentences[0] for d in big + small}  # each read through
    assert counts["small"] > 5 * len(small)  # the small corpus was read again, epoch after epoch
    assert mixed == list(mix_corpora([(big, 0.7), (small, 0.3)], seed=3))
    assert mixed != list(mix_corpora([(big, 0.7), (small, 0.3)], seed=4))


def test_mix_reads_files_again_and_rejects_bad_sources(tmp_path):
    one = write(tmp_path / "one.txt", "A.\nB.\n")
    two = write(tmp_path / "two.txt", "".join(f"Doc {i}.\n" for i in range(50)))
    sources = [(DocumentFiles([one], "lines"), 1.0), (DocumentFiles([two], "lines"), 1.0)]
    mixed = list(mix_corpora(sources, seed=0))
    assert {d.sentences[0] for d in mixed} >= {"A.", "B."} | {f"Doc {i}." for i in range(50)}
    with pytest.raises(ValueError, match="one-shot iterator"):
        next(mix_corpora([(iter(docs_of("a")), 1.0)], seed=0))
    with pytest.raises(ValueError, match="source 1 has no documents"):
        list(mix_corpora([(docs_of("a"), 1.0), ([], 1.0)], seed=0))
    with pytest.raises(ValueError, match="weights must be positive"):
        next(mix_corpora([(docs_of("a"), 0.0)], seed=0))


def test_parse_weighted_inputs():
    assert parse_weighted_inputs("pubmed/*.xml.gz:0.7, wiki/*:0.3,books.txt") == [
        ("pubmed/*.xml.gz", 0.7), ("wiki/*", 0.3), ("books.txt", 1.0)]
    assert parse_weighted_inputs("gs://bucket/pmc/*:2") == [("gs://bucket/pmc/*", 2.0)]
    assert parse_weighted_inputs("gs://bucket/pmc/*") == [("gs://bucket/pmc/*", 1.0)]
    for spec, message in [("a:-1", "must be a positive number"), ("a:0", "must be a positive number"),
                          ("a:nan", "must be a positive number"),
                          ("a:x", "'x' of input 'a:x' is not a number"),
                          (" , ", "no inputs")]:
        with pytest.raises(ValueError, match=message):
            parse_weighted_inputs(spec)


def test_expand_input_files_globs_and_lists(tmp_path):
    for name in ["b.txt", "a.txt", "c.xml"]:
        (tmp_path / name).write_text("x\n")
    (tmp_path / "sub.txt").mkdir()
    assert expand_input_files(f"{tmp_path}/*.txt, {tmp_path}/c.xml") == [
        str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), str(tmp_path / "c.xml")]
    with pytest.raises(FileNotFoundError, match=r"no input file matches .*\*\.json"):
        expand_input_files(f"{tmp_path}/*.txt,{tmp_path}/*.json")


# --- line endings and the splitter's speed ---

@pytest.mark.parametrize("ending", LINE_ENDINGS)
@pytest.mark.parametrize("name, text, input_format", [
    ("c.txt", "First one.\nSecond.\n\n\n\nOther doc.\n \t\nLast.\nEnd.", "text"),
    ("c.txt.gz", "One. Two.\nThree\u2028still three.\x0c\n\nFour.\n", "lines"),
    ("c.txt", "One.\nTwo.\n\n\nThree.\nFour.\n", "auto"),
    ("p.xml.gz", PUBMED_XML, "pubmed_xml"),
], ids=["text", "lines.gz", "auto", "pubmed_xml.gz"])
def test_every_line_ending_reads_like_lf(tmp_path, ending, name, text, input_format):
    compress = name.endswith(".gz")
    expected = list(read_documents(write(tmp_path / name, text, compress), input_format))
    data = with_line_endings(text, ending)
    (tmp_path / name).write_bytes(gzip.compress(data) if compress else data)
    assert list(read_documents(str(tmp_path / name), input_format)) == expected


def test_cr_only_errors_name_the_right_line(tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(b"One.\r\rTwo \xff.\rThree.\r")
    with pytest.raises(CorpusError, match=f"^{path}:3: not valid UTF-8"):
        list(read_documents(str(path), "lines"))
    xml = tmp_path / "b.xml"
    xml.write_bytes(b"<collection>\r<document>\r<id>1</oops>\r</document></collection>")
    with pytest.raises(CorpusError, match=f"^{xml}:3: malformed XML"):
        list(read_documents(str(xml)))


@pytest.mark.parametrize("text, expected", [
    ("." * 32768, ["." * 32768]),
    ("a. " * 11000, ["a. " * 10999 + "a."]),
    ("Ab. " * 8000, ["Ab."] * 8000),
    ("x" * 32768 + ". " + "!" * 32768 + " B", ["x" * 32768 + ".", "!" * 32768, "B"]),
], ids=["dots", "a. x N", "Ab. x N", "long words"])
def test_splitter_is_linear_in_the_line_length(text, expected):
    started = time.perf_counter()
    assert split_sentences(text) == expected
    assert time.perf_counter() - started < 2  # a guard: quadratic matching took ~18 s on 32 kB
