"""NER data files: reading (BioBERT tsv, CoNLL), errors with path:line, scheme conversion, labels, output."""

import random

import pytest

from biobert_tf.tasks.ner.data import (NerDataError, Sentence, convert_scheme, detect_scheme, label_list,
                                 read_conll, write_conll)
from biobert_tf.tasks.ner.metrics import get_entities
from helpers import shared_file
from helpers import LINE_ENDINGS, with_line_endings


def _write(tmp_path, data: bytes | str, name="data.tsv") -> str:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)


def test_reads_biobert_tsv_with_line_numbers(tmp_path):
    path = _write(tmp_path, "Famil\tO\nadenomatous\tB\npolyposis\tI\n\nBRCA1\tB\n.\tO\n\n")
    sentences = read_conll(path)
    assert sentences == [
        Sentence(("Famil", "adenomatous", "polyposis"), ("O", "B", "I"), path, 1),
        Sentence(("BRCA1", "."), ("B", "O"), path, 5)]


def test_tolerates_bom_crlf_trailing_space_blank_runs_and_no_final_blank(tmp_path):
    data = "\ufeffa\tB-X \r\nb\tI-X\t\r\n\r\n  \r\n\n\nc\tO\r\nd\tS-Y"
    path = _write(tmp_path, data)
    sentences = read_conll(path)
    assert [(s.tokens, s.labels, s.line) for s in sentences] == [
        (("a", "b"), ("B-X", "I-X"), 1), (("c", "d"), ("O", "S-Y"), 7)]


def test_reads_conll2003_columns_and_docstart(tmp_path):
    data = ("-DOCSTART- -X- -X- O\n\n"
            "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
            "-DOCSTART- -X- -X- O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n")
    path = _write(tmp_path, data, "eng.train")
    sentences = read_conll(path)
    assert [(s.tokens, s.labels, s.line) for s in sentences] == [
        (("EU", "rejects", "German"), ("B-ORG", "O", "B-MISC"), 3),
        (("Peter", "Blackburn"), ("B-PER", "I-PER"), 9)]


def test_tab_lines_ignore_middle_columns(tmp_path):
    path = _write(tmp_path, "a\tNN\tB-X\nc\tNN\tI-X\n")
    (sentence,) = read_conll(path)
    assert sentence.tokens == ("a", "c") and sentence.labels == ("B-X", "I-X")


def test_never_drops_tokens(tmp_path):
    lines = [f"t{i}\t{'BIO'[i % 3]}" if i % 7 else "" for i in range(1, 200)]
    path = _write(tmp_path, "\n".join(lines))
    sentences = read_conll(path)
    assert sum(len(s.tokens) for s in sentences) == sum(1 for line in lines if line)
    assert [t for s in sentences for t in s.tokens] == [line.split("\t")[0] for line in lines if line]


@pytest.mark.parametrize("data,line,message", [
    ("a\tO\nb\n", 2, "no tag"),
    ("a\tO\n\nb O\nc\t\n", 4, "no tag"),  # a trailing tab is not a tag
    ("a\tO\n\u00a0\n", 2, "no tag"),  # a no-break space is not a blank line
    ("a\tO\nb\tX\n", 2, "invalid tag 'X'"),
    ("a\tB-\n", 1, "invalid tag 'B-'"),
    ("a\tO-X\n", 1, "invalid tag"),
    ("a\tb-X\n", 1, "invalid tag"),
    ("a\t[PAD]\n", 1, "invalid tag"),
    ("\tO\n", 1, "empty token"),
    ("a\tO\nAPC 2\tO\n", 2, "the token 'APC 2' contains whitespace"),
    ("a\tO\n \u00a0\tO\n", 2, "contains whitespace"),
])
def test_malformed_lines_name_path_and_line(tmp_path, data, line, message):
    path = _write(tmp_path, data)
    with pytest.raises(NerDataError, match=message) as info:
        read_conll(path)
    assert f"{path}:{line}:" in str(info.value)


def test_non_utf8_names_the_line(tmp_path):
    path = _write(tmp_path, b"a\tO\n\nb\tB\ncaf\xe9\tI\n")
    with pytest.raises(NerDataError, match="not UTF-8") as info:
        read_conll(path)
    assert f"{path}:4:" in str(info.value)


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"-DOCSTART- -X- O O\n\n", b"\xef\xbb\xbf\r\n"])
def test_no_sentences(tmp_path, data):
    path = _write(tmp_path, data)
    with pytest.raises(NerDataError, match="no sentences in") as info:
        read_conll(path)
    assert f"{path}:" in str(info.value)


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.tsv")
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        read_conll(path)


def test_detect_scheme():
    assert detect_scheme([["O", "B-A", "I-A"], ["I"]]) == "bio"
    assert detect_scheme([["O", "B-A", "E-A"]]) == "bioes"
    assert detect_scheme([Sentence(("x",), ("S",), "f", 1)]) == "bioes"


def test_convert_scheme_follows_conlleval_chunks():
    # I-A after O starts a chunk; I-B after I-A is a new chunk of type B.
    iob1 = ["I-A", "I-A", "O", "I-B", "I-A", "B-A"]
    assert convert_scheme(iob1, "bio") == ["B-A", "I-A", "O", "B-B", "B-A", "B-A"]
    assert convert_scheme(iob1, "bioes") == ["B-A", "E-A", "O", "S-B", "S-A", "S-A"]
    assert convert_scheme(["B-A", "I-B"], "bioes") == ["S-A", "S-B"]
    assert convert_scheme(["B", "I", "O", "I", "B", "B", "I", "I"], "bioes") == [
        "B", "E", "O", "S", "S", "B", "I", "E"]
    assert convert_scheme(["B-A", "I-A", "E-A", "S-A", "E-A"], "bio") == ["B-A", "I-A", "I-A", "B-A", "B-A"]
    assert convert_scheme([], "bioes") == []
    with pytest.raises(ValueError, match="unknown tag scheme"):
        convert_scheme(["O"], "iob3")


def _random_iob2(rng, types, n):
    """Valid IOB2: an I only continues the chunk (and type) of the previous token."""
    labels = []
    for _ in range(n):
        prev = labels[-1] if labels else "O"
        choice = rng.choice("OBI" if prev != "O" else "OB")
        if choice == "O":
            labels.append("O")
        elif choice == "B":
            type_ = rng.choice(types)
            labels.append("B" + (f"-{type_}" if type_ else ""))
        else:
            labels.append("I" + prev[1:])
    return labels


@pytest.mark.parametrize("types", [["A", "Foo-Bar"], [""]])
def test_round_trips_are_identity(types):
    rng = random.Random(1)
    for _ in range(500):
        labels = _random_iob2(rng, types, rng.randint(0, 15))
        bioes = convert_scheme(labels, "bioes")
        assert convert_scheme(bioes, "bio") == labels
        assert convert_scheme(convert_scheme(bioes, "bio"), "bioes") == bioes
        assert get_entities(bioes) == get_entities(labels)


def test_label_list_order():
    typed = [["I-Disease", "B-Chemical", "O"], ["B-Disease", "E-Chemical", "S-Chemical", "I-Chemical"]]
    assert label_list(typed) == ["O", "B-Chemical", "I-Chemical", "E-Chemical", "S-Chemical",
                                 "B-Disease", "I-Disease"]
    assert label_list([Sentence(("a", "b"), ("I", "B"), "f", 1)]) == ["O", "B", "I"]  # O always first
    with pytest.raises(ValueError, match="invalid tag"):
        label_list([["X"]])


def test_write_conll_format_and_round_trip(tmp_path):
    path = tmp_path / "out" / "NER_result_conll.txt"
    tokens = [["BRCA1", "mutation"], ["."]]
    gold = [["B", "O"], ["O"]]
    pred = [["B", "B"], ["O"]]
    write_conll(path, tokens, gold, pred)
    assert path.read_text(encoding="utf-8") == "BRCA1 B B\nmutation O B\n\n. O O\n\n"
    back = read_conll(path)  # token first, tag last = the prediction
    assert [list(s.tokens) for s in back] == tokens and [list(s.labels) for s in back] == pred
    with pytest.raises(ValueError, match="sentence 0: 2 tokens, 1 gold"):
        write_conll(path, tokens, [["B"], ["O"]], pred)
    with pytest.raises(ValueError, match="whitespace"):
        write_conll(path, [["a b"]], [["O"]], [["O"]])
    with pytest.raises(ValueError, match="3 token sentences"):
        write_conll(path, tokens + [["x"]], gold, pred)


def test_real_ncbi_disease_devel():
    path = shared_file("ner", "NCBI-disease", "devel.tsv")
    sentences = read_conll(path)
    # ../shared/data/README.md: 923 sentences, 787 entities.
    assert len(sentences) == 923
    assert sum(len(get_entities(s.labels)) for s in sentences) == 787
    assert detect_scheme(sentences) == "bio"
    assert label_list(sentences) == ["O", "B", "I"]
    assert sentences[0].line == 1


def test_real_bc5cdr_typed_devel_labels():
    sentences = read_conll(shared_file("ner", "BC5CDR-typed", "devel.tsv"))
    assert len(sentences) == 4581
    assert label_list(sentences) == ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    # The typed file is the chemical file plus disease tags: same sentences, same chemical chunks.
    chem = read_conll(shared_file("ner", "BC5CDR-chem", "devel.tsv"))
    assert [s.tokens for s in chem] == [s.tokens for s in sentences]
    assert sum(len(get_entities(s.labels)) for s in chem) == sum(
        t == "Chemical" for s in sentences for t, _, _ in get_entities(s.labels))


@pytest.mark.parametrize("ending", LINE_ENDINGS)
def test_every_line_ending_reads_like_lf(tmp_path, ending):
    text = "-DOCSTART- O\n\na\tB-X\nb\tI-X\n\n\nc\tO\n"
    expected = [(s.tokens, s.labels, s.line) for s in read_conll(_write(tmp_path, text, "lf.tsv"))]
    sentences = read_conll(_write(tmp_path, with_line_endings(text, ending)))
    assert [(s.tokens, s.labels, s.line) for s in sentences] == expected == [
        (("a", "b"), ("B-X", "I-X"), 3), (("c",), ("O",), 7)]


def test_cr_only_errors_name_the_right_line(tmp_path):
    path = _write(tmp_path, "a\tO\r\rb\tO\rc\r")
    with pytest.raises(NerDataError, match=f"^{path}:4: no tag"):
        read_conll(path)
