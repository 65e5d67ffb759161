"""RE readers (BioBERT/BLUE tsv, SciBERT and generic jsonl), malformed input, blinding, markers."""

import collections
import dataclasses
import json
import re

import pytest

from helpers import shared_file
from helpers import LINE_ENDINGS, with_line_endings

from biobert_tf.tasks.relation.data import (SCIBERT_MARKERS, RelationExample, ReDataError, blind,
                                detect_format, format_for_task, label_list, mark, read_biobert_tsv,
                                read_jsonl, read_relations, read_scibert_jsonl,
                                strip_scibert_markers)


def _write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def _raises_at(path, line, match=""):
    """pytest.raises for a ReDataError naming path:line (and matching `match` after it)."""
    return pytest.raises(ReDataError, match="^" + re.escape(f"{path}:{line}: ") + ".*" + match)


GAD_TRAIN = ("this study proposes that A/A genotype in @GENE$ gene predicts @DISEASE$.\t1\n"
             "Results do not support any association of the @GENE$ polymorphism to @DISEASE$.\t0\n")
GAD_TEST = ("index\tsentence\tlabel\n"
            "0\tIn our setting, @DISEASE$ seems independent of mutations in the @GENE$ gene.\t1\n"
            "1\tThe @GENE$ variant was not linked to @DISEASE$.\t0\n")


# ---------------------------------------------------------------------------- BioBERT tsv


def test_gad_train_without_header(tmp_path):
    path = _write(tmp_path / "train.tsv", GAD_TRAIN)
    examples = read_biobert_tsv(path)
    assert [e.label for e in examples] == ["1", "0"]
    assert [e.id for e in examples] == ["train-0", "train-1"]  # BioBERT's guids
    assert [e.line for e in examples] == [1, 2]
    first = examples[0]
    assert first.path == str(path)
    assert first.text == GAD_TRAIN.split("\n")[0].split("\t")[0]  # the sentence as given
    assert first.mentions == ("@GENE$", "@DISEASE$")
    assert first.text[first.e1[0]:first.e1[1]] == "@GENE$"


def test_gad_test_with_header(tmp_path):
    path = _write(tmp_path / "test.tsv", GAD_TEST)
    examples = read_biobert_tsv(path)
    assert [(e.id, e.label, e.line) for e in examples] == [("0", "1", 2), ("1", "0", 3)]
    # e1 / e2 follow text order, not entity type: the disease comes first here.
    assert examples[0].mentions == ("@DISEASE$", "@GENE$")
    assert examples[1].mentions == ("@GENE$", "@DISEASE$")


def test_biobert_chemprot_and_blue_layouts(tmp_path):
    # BioBERT layout (no header, two columns); BLUE layout (header, string index, on every split).
    biobert = _write(tmp_path / "train.tsv",
                     "@CHEMICAL$ inhibits @GENE$ activity.\tCPR:4\n"
                     "@GENE$ was not affected by @CHEMICAL$.\tfalse\n")
    assert [(e.label, e.mentions) for e in read_biobert_tsv(biobert)] == [
        ("CPR:4", ("@CHEMICAL$", "@GENE$")), ("false", ("@GENE$", "@CHEMICAL$"))]
    blue = _write(tmp_path / "dev.tsv",
                  "index\tsentence\tlabel\n"
                  "10047461.T13.T52\t@CHEMICAL$ is an agonist of @GENE$.\tCPR:5\n"
                  "10047461.T14.T52\tThe @CHEM-GENE$ complex was stable.\tfalse\n")
    examples = read_biobert_tsv(blue)
    assert [e.id for e in examples] == ["10047461.T13.T52", "10047461.T14.T52"]
    # BLUE writes one combined placeholder for overlapping mentions: both spans point at it.
    joint = examples[1]
    assert joint.e1 == joint.e2 == (4, 4 + len("@CHEM-GENE$"))
    assert label_list(read_biobert_tsv(biobert) + examples) == ["false", "CPR:4", "CPR:5"]


def test_ddi_two_drug_placeholders_and_both_label_styles(tmp_path):
    path = _write(tmp_path / "test.tsv",
                  "index\tsentence\tlabel\n"
                  "DDI-DrugBank.d519.s3.p0\t@DRUG$ may increase the effect of @DRUG$.\tDDI-effect\n"
                  "DDI-DrugBank.d519.s3.p1\tAvoid @DRUG$ with @DRUG$.\tadvise\n"
                  "DDI-DrugBank.d519.s3.p2\tThe @DRUG-DRUG$ pair is listed.\tDDI-false\n")
    examples = read_biobert_tsv(path)
    assert [e.label for e in examples] == ["DDI-effect", "advise", "DDI-false"]  # as written
    first = examples[0]
    assert first.e1 == (0, 6) and first.text[first.e2[0]:first.e2[1]] == "@DRUG$"
    assert first.e2[0] > first.e1[1]
    assert examples[2].e1 == examples[2].e2
    assert label_list(examples) == ["DDI-false", "DDI-effect", "advise"]


def test_tsv_tolerates_bom_crlf_blank_lines_and_quotes(tmp_path):
    text = '\ufeffA "quoted" @GENE$ and @DISEASE$ \t1\r\n\r\n@GENE$ @DISEASE$ again\t 0 \r\n\n'
    examples = read_biobert_tsv(_write(tmp_path / "train.tsv", text))
    assert [(e.text, e.label, e.line) for e in examples] == [
        ('A "quoted" @GENE$ and @DISEASE$ ', "1", 1), ("@GENE$ @DISEASE$ again", "0", 3)]


@pytest.mark.parametrize("content, line, match", [
    ("@GENE$ causes @DISEASE$.\t1\nno label column @GENE$ @DISEASE$\n", 2,
     "1 tab-separated columns, expected 2"),
    ("@GENE$ causes @DISEASE$.\t1\n0\t@GENE$ and @DISEASE$.\t1\n", 2,
     "3 tab-separated columns, expected 2"),
    ("a\t@GENE$ causes @DISEASE$.\t1\textra\n", 1, "4 tab-separated columns"),
    ("index\tsentence\tlabel\n@GENE$ causes @DISEASE$.\t1\n", 2,
     "2 tab-separated columns, expected 3"),
    ("@GENE$ causes @DISEASE$.\t1\nOnly @GENE$ here, no disease.\t0\n", 2,
     r"found 1: @GENE\$"),
    ("No placeholder at all.\t0\n", 1, "found 0: none"),
    ("@GENE$, @GENE$ and @DISEASE$.\t1\n", 1, r"found 3: @GENE\$, @GENE\$, @DISEASE\$"),
    ("@GENE$ causes @DISEASE$.\t \n", 1, "empty label"),
    ("\t@GENE$ causes @DISEASE$.\t1\n", 1, "empty index column"),
    ("  \t1\n", 1, "empty sentence"),
])
def test_tsv_malformed_rows(tmp_path, content, line, match):
    path = _write(tmp_path / "train.tsv", content)
    with _raises_at(path, line, match):
        read_biobert_tsv(path)


def test_tsv_not_utf8_and_empty_files(tmp_path):
    path = _write(tmp_path / "train.tsv", b"@GENE$ and @DISEASE$.\t1\n@GENE$ \xe9 @DISEASE$\t0\n")
    with _raises_at(path, 2, "not UTF-8"):
        read_biobert_tsv(path)
    empty = _write(tmp_path / "empty.tsv", "")
    with _raises_at(empty, 1, "no examples"):
        read_biobert_tsv(empty)
    header_only = _write(tmp_path / "test.tsv", "index\tsentence\tlabel\n\n")
    with _raises_at(header_only, 2, "no examples"):
        read_relations(header_only)
    with pytest.raises(FileNotFoundError):
        read_relations(tmp_path / "missing.tsv")


# ------------------------------------------------------------------------- SciBERT jsonl


def _jsonl(path, records):
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    return _write(path, "\n".join(lines) + "\n")


SCIBERT_CASES = [
    # (marked text, text without markers, e1 mention, e2 mention), shapes from the real files.
    ("<< Epidermal growth factor receptor >> inhibitors include [[ gefitinib ]] (Iressa).",
     "Epidermal growth factor receptor inhibitors include gefitinib (Iressa).",
     "Epidermal growth factor receptor", "gefitinib"),
    ("zamide methanesulfonate (<< CGP20712A >>, a selective [[ beta(1)-adrenoceptor ]] antagonist)",
     "zamide methanesulfonate (CGP20712A, a selective beta(1)-adrenoceptor antagonist)",
     "CGP20712A", "beta(1)-adrenoceptor"),
    # Markers glued to the text, and ">>" / "[[" that are part of the sentence.
    ("inhibit << HVA Ca2+ channels >> was sulprostone>PGE2, PGE1>[[ STA2 ]]>>17-phenyl-2-[[2-x.",
     "inhibit HVA Ca2+ channels was sulprostone>PGE2, PGE1>STA2>>17-phenyl-2-[[2-x.",
     "HVA Ca2+ channels", "STA2"),
    ("ranked acid 94 >> [[ probenecid ]] >> flufenamic acid by << Panx1 >> currents.",
     "ranked acid 94 >> probenecid >> flufenamic acid by Panx1 currents.",
     "Panx1", "probenecid"),  # [[ ]] before << >> in the text
    ("<<  padded  >> and [[ x ]]", " padded  and x", "padded", "x"),  # extra inner spaces kept
]


@pytest.mark.parametrize("marked, text, m1, m2", SCIBERT_CASES)
def test_scibert_markers_are_stripped_exactly(marked, text, m1, m2):
    clean, e1, e2 = strip_scibert_markers(marked)
    assert clean == text
    assert (clean[e1[0]:e1[1]], clean[e2[0]:e2[1]]) == (m1, m2)


def test_scibert_reader_and_round_trip(tmp_path):
    records = [{"text": marked, "label": "INHIBITOR", "metadata": []}
               for marked, *_ in SCIBERT_CASES[:4]]
    records.insert(1, "")  # a blank line is skipped, line numbers still count it
    path = _jsonl(tmp_path / "train.jsonl", records)
    examples = read_scibert_jsonl(path)
    assert [e.line for e in examples] == [1, 3, 4, 5]
    assert [e.id for e in examples] == ["train-0", "train-1", "train-2", "train-3"]
    assert [e.mentions for e in examples] == [(m1, m2) for _, _, m1, m2 in SCIBERT_CASES[:4]]
    # Putting SciBERT's markers back gives each line's text exactly.
    assert [mark(e, SCIBERT_MARKERS).text for e in examples] == [c[0] for c in SCIBERT_CASES[:4]]
    assert read_relations(path) == examples  # auto-detected


@pytest.mark.parametrize("text, match", [
    ("no markers at all", r"exactly one '<<' marker \(written '<< '\), found 0"),
    ("<< A >> and << B >> with [[ C ]]", "exactly one '<<' marker .* found 2"),
    ("<< A >> and [[ C", r"unbalanced markers: '\[\[' at character 12 has no closing '\]\]'"),
    ("<< A and [[ C ]]", "unbalanced markers: '<<' at character 0"),
    ("<< A [[ B ]] C >>", "nested or overlapping"),
    ("<< A [[ B >> C ]]", "nested or overlapping"),
    ("<<   >> and [[ C ]]", "empty mention"),
])
def test_scibert_malformed_markers(tmp_path, text, match):
    path = _jsonl(tmp_path / "dev.jsonl", [{"text": "<< a >> [[ b ]]", "label": "AGONIST"},
                                           {"text": text, "label": "AGONIST", "metadata": []}])
    with _raises_at(path, 2, match):
        read_scibert_jsonl(path)


@pytest.mark.parametrize("line, match", [
    ('{"text": "<< a >> [[ b ]]", "label": "X"', r"invalid JSON \("),
    ('["<< a >> [[ b ]]", "X"]', "expected a JSON object per line, got list"),
    ('{"text": "<< a >> [[ b ]]"}', r"'label' must be a non-empty string or an int \(missing\)"),
    ('{"text": 5, "label": "X"}', r"'text' must be a non-empty string \(got 5\)"),
    ('{"text": "<< a >> [[ b ]]", "label": true}', "'label' must be"),
])
def test_scibert_malformed_json(tmp_path, line, match):
    good = '{"text": "<< a >> [[ b ]]", "label": "X"}\n'
    path = _write(tmp_path / "test.jsonl", good + line + "\n")
    with _raises_at(path, 2, match):
        read_scibert_jsonl(path)


def test_jsonl_not_utf8_and_empty(tmp_path):
    path = _write(tmp_path / "x.jsonl", b'{"text": "<< a >> [[ \xff ]]", "label": "X"}\n')
    with _raises_at(path, 1, "not UTF-8"):
        read_relations(path, "scibert_jsonl")
    blank = _write(tmp_path / "blank.jsonl", "\n  \n")
    for data_format in ("auto", "scibert_jsonl", "jsonl"):
        with _raises_at(blank, 2, "no examples"):
            read_relations(blank, data_format)


# ------------------------------------------------------------------------- generic jsonl


def test_generic_jsonl(tmp_path):
    path = _jsonl(tmp_path / "data.jsonl", [
        {"text": "BRCA1 mutations raise breast cancer risk.", "label": "1", "e1": [0, 5],
         "e2": [22, 35], "id": "pmid1"},
        {"text": "Aspirin blocks COX-1.", "label": 0, "e1": [15, 20], "e2": [0, 7], "id": 7},
        {"text": "The TNF-alpha gene.", "label": "self", "e1": [4, 13], "e2": [4, 13], "x": 1},
    ])
    a, b, c = read_jsonl(path)
    assert (a.id, a.label, a.mentions) == ("pmid1", "1", ("BRCA1", "breast cancer"))
    assert (b.id, b.label, b.mentions) == ("7", "0", ("COX-1", "Aspirin"))
    assert (c.id, c.e1 == c.e2) == ("data-2", True)
    assert detect_format(path) == "jsonl"
    assert read_relations(path) == [a, b, c]


@pytest.mark.parametrize("record, match", [
    ({"text": "abc def", "label": "1", "e1": [0, 3], "e2": [4, 8]},
     r"e2 span \(4, 8\) is out of range"),
    ({"text": "abc def", "label": "1", "e1": [-1, 3], "e2": [4, 7]}, "e1 span .* out of range"),
    ({"text": "abc def", "label": "1", "e1": [2, 2], "e2": [4, 7]}, "out of range or empty"),
    ({"text": "abc def", "label": "1", "e1": [0, 5], "e2": [4, 7]},
     r"entity spans overlap: e1 \(0, 5\) 'abc d' and e2 \(4, 7\) 'def'"),
    ({"text": "abc def", "label": "1", "e1": [0, 7], "e2": [4, 7]}, "entity spans overlap"),
    ({"text": "abc def", "label": "1", "e1": [0, 3]},
     r"'e2' must be \[start, end\], two ints \(missing\)"),
    ({"text": "abc def", "label": "1", "e1": [0, 3.0], "e2": [4, 7]}, "'e1' must be"),
    ({"text": "abc def", "label": "1", "e1": [True, 3], "e2": [4, 7]}, "'e1' must be"),
    ({"text": "abc def", "label": "1", "e1": {"start": 0}, "e2": [4, 7]}, "'e1' must be"),
    ({"text": "abc def", "label": "1", "e1": [0, 3], "e2": [4, 7], "id": ""}, "'id' must be"),
])
def test_generic_jsonl_malformed(tmp_path, record, match):
    good = {"text": "abc def", "label": "1", "e1": [0, 3], "e2": [4, 7]}
    path = _jsonl(tmp_path / "data.jsonl", [good, record])
    with _raises_at(path, 2, match):
        read_jsonl(path)


@pytest.mark.parametrize("line, match", [
    ('{"text": "<< a >> [[ b ]]", "label": "X", "metadata": [NaN]}',
     r"NaN is not a JSON number \(at metadata\[0\]\)"),
    ('{"text": "<< a >> [[ b ]]", "label": "X", "label": "Y"}', "the key 'label' occurs twice"),
    ('{"text": "<< a >> [[ b ]]", "label": "X", "metadata": ' + "[" * 3000 + "]" * 3000 + "}",
     "JSON nested too deeply"),
    ('{"text": "<< a >> [[ b ]]", "label": "\\udc00"}', "lone UTF-16 surrogate"),
    ('{"text": ["<< a >> [[ b ]]"], "label": "X"}', r"'text' must be a non-empty string"),
    ('{"text": "<< a >> [[ b ]]", "label": 1.5}', "'label' must be"),
    ('{"text": "<< a >> [[ b ]]", "label": null}', "'label' must be"),
    ('"just a string"', "expected a JSON object per line, got str"),
    ('{"text": "<< a >> [[ b ]]", "label": "X", "id": false}', "'id' must be"),
])
def test_jsonl_values_json_does_not_define_or_of_the_wrong_type(tmp_path, line, match):
    good = '{"text": "<< a >> [[ b ]]", "label": "X"}\n'
    path = _write(tmp_path / "test.jsonl", good + line + "\n")
    for read in (read_scibert_jsonl, read_relations):
        with _raises_at(path, 2, match):
            read(path)


def test_generic_jsonl_spans_json_cannot_hold(tmp_path):
    good = {"text": "abc def", "label": "1", "e1": [0, 3], "e2": [4, 7]}
    path = _write(tmp_path / "data.jsonl", json.dumps(good) + "\n" +
                  '{"text": "abc def", "label": "1", "e1": [0, 1e999], "e2": [4, 7]}\n')
    with _raises_at(path, 2, r"1e999 is too large for a number \(at e1\[1\]\)"):
        read_jsonl(path)




def test_detect_format_and_task_names(tmp_path):
    tsv_txt = _write(tmp_path / "data.txt", "@GENE$ and @DISEASE$\t1\n")
    scibert = _jsonl(tmp_path / "x.json", [{"text": "<< a >> [[ b ]]", "label": "X"}])
    generic = _jsonl(tmp_path / "y.data",
                     [{"text": "ab", "label": "X", "e1": [0, 1], "e2": [1, 2]}])
    assert detect_format(tsv_txt) == "biobert_tsv"
    assert detect_format(scibert) == "scibert_jsonl"
    assert detect_format(generic) == "jsonl"
    broken = _write(tmp_path / "z.jsonl", "\n{not json\n")
    with _raises_at(broken, 2, "invalid JSON"):
        read_relations(broken)
    with pytest.raises(ValueError, match="unknown RE data format 'csv'"):
        read_relations(tsv_txt, "csv")
    assert [format_for_task(t) for t in ("gad", "EUADR", "chemprot", "ddi13", "chemprot_scibert")] \
        == ["biobert_tsv"] * 4 + ["scibert_jsonl"]
    with pytest.raises(ValueError, match="unknown RE task 'mrpc'"):
        format_for_task("mrpc")


def test_label_list_order():
    assert label_list(["1", "0", "1"]) == ["0", "1"]
    cpr = ["CPR:9", "CPR:10", "false", "CPR:3", "CPR:4"]
    assert label_list(cpr) == ["false", "CPR:3", "CPR:4", "CPR:9", "CPR:10"]
    assert label_list(reversed(cpr)) == label_list(cpr)
    ddi = ["DDI-int", "DDI-false", "DDI-advise"]
    assert label_list(ddi) == ["DDI-false", "DDI-advise", "DDI-int"]
    assert label_list(["INHIBITOR", "AGONIST", "AGONIST-ACTIVATOR"]) == [  # no negative class
        "AGONIST", "AGONIST-ACTIVATOR", "INHIBITOR"]
    ex = RelationExample("a b", "CPR:3", (0, 1), (2, 3), "x", "", 0)
    assert label_list([ex]) == ["CPR:3"]


# ------------------------------------------------------------------ blinding and markers


def _example(text, m1, m2, label="1"):
    s1, s2 = text.index(m1), text.index(m2)
    return RelationExample(text, label, (s1, s1 + len(m1)), (s2, s2 + len(m2)), "ex", "", 0)


def test_blind_and_mark_plain_mentions():
    ex = _example("Loss of BRCA1 raises breast cancer risk.", "BRCA1", "breast cancer")
    blinded = blind(ex)
    assert blinded.text == "Loss of @E1$ raises @E2$ risk."
    assert blinded.mentions == ("@E1$", "@E2$")
    assert blind(ex, ("@GENE$", "@DISEASE$")).text == "Loss of @GENE$ raises @DISEASE$ risk."
    marked = mark(ex)
    assert marked.text == "Loss of [E1] BRCA1 [/E1] raises [E2] breast cancer [/E2] risk."
    assert marked.mentions == ("[E1] BRCA1 [/E1]", "[E2] breast cancer [/E2]")  # markers included
    assert mark(ex, sep="").text == "Loss of [E1]BRCA1[/E1] raises [E2]breast cancer[/E2] risk."
    # Converting marked -> blinded gives what blinding the plain example gives.
    assert blind(marked) == blinded
    assert (marked.label, marked.id, marked.path, marked.line) == ("1", "ex", "", 0)


def test_e2_before_e1_and_joint_mentions():
    ex = _example("Panx1 is blocked by probenecid.", "probenecid", "Panx1")
    assert blind(ex).text == "@E2$ is blocked by @E1$."
    assert blind(ex).mentions == ("@E1$", "@E2$")
    assert mark(ex).text == "[E2] Panx1 [/E2] is blocked by [E1] probenecid [/E1]."
    joint = RelationExample("The TNF gene.", "false", (4, 7), (4, 7), "j", "", 0)
    assert blind(joint).text == "The @E1-E2$ gene."
    assert blind(joint, ("@CHEMICAL$", "@GENE$"), joint="@CHEM-GENE$").mentions == (
        "@CHEM-GENE$", "@CHEM-GENE$")
    marked = mark(joint)
    assert marked.text == "The [E1] [E2] TNF [/E2] [/E1] gene."
    assert marked.e1 == marked.e2 == (4, len("The [E1] [E2] TNF [/E2] [/E1]"))


def test_mark_blinded_data_wraps_the_placeholder_and_blind_reads_back(tmp_path):
    ex = read_biobert_tsv(_write(tmp_path / "train.tsv", GAD_TRAIN))[0]
    marked = mark(ex)
    assert "[E1] @GENE$ [/E1]" in marked.text and "[E2] @DISEASE$ [/E2]" in marked.text
    # Blinded output in BioBERT's placeholder style reads back with the same spans.
    typed = blind(mark(ex), ("@GENE$", "@DISEASE$"))
    assert typed.text == ex.text and (typed.e1, typed.e2) == (ex.e1, ex.e2)
    again = read_biobert_tsv(_write(tmp_path / "again.tsv", f"{blind(ex).text}\t1\n"))[0]
    assert again.mentions == ("@E1$", "@E2$")
    assert (again.e1, again.e2) == (blind(ex).e1, blind(ex).e2)


def test_example_validation_and_immutability():
    ex = RelationExample("a b", "1", (0, 1), (2, 3), "x", "f.tsv", 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ex.text = "c"
    with pytest.raises(ReDataError, match="f.tsv:4: give both entity spans or neither"):
        RelationExample("a b", "1", (0, 1), None, "x", "f.tsv", 4)
    with pytest.raises(ReDataError, match=r"e1 must be a \(start, end\) tuple"):
        RelationExample("a b", "1", [0, 1], (2, 3), "x", "", 0)
    unknown = RelationExample("a sentence", "1", None, None, "x", "", 0)
    assert unknown.mentions is None
    with pytest.raises(ValueError, match="no entity spans"):
        mark(unknown)
    with pytest.raises(ValueError, match="markers must be four"):
        mark(ex, ("[E1]", "[/E1]"))
    with pytest.raises(ValueError, match="placeholders must be two"):
        blind(ex, ("@A$", ""))


# ----------------------------------------------------------------------------- real data


def test_real_gad_folds():
    counts = collections.Counter()
    for fold in range(1, 11):
        for split in ("train", "test"):
            examples = read_relations(shared_file("re", "GAD", str(fold), f"{split}.tsv"))
            counts[split] += len(examples)
            if fold == 1:
                labels = collections.Counter(e.label for e in examples)
                assert dict(labels) == ({"0": 2276, "1": 2520} if split == "train"
                                        else {"0": 253, "1": 281})
                assert all(set(e.mentions) == {"@GENE$", "@DISEASE$"} for e in examples)
            assert label_list(examples) == ["0", "1"]
    # ../shared/data/README.md: 5330 examples, each fold's test is one tenth and train the rest.
    assert counts == {"test": 5330, "train": 9 * 5330}


def test_real_chemprot_scibert():
    sizes = {}
    every_label = set()
    for split in ("train", "dev", "test"):
        path = shared_file("re", "ChemProt", f"{split}.jsonl")
        examples = read_relations(path, format_for_task("chemprot_scibert"))
        sizes[split] = len(examples)
        every_label.update(e.label for e in examples)
        with open(path, encoding="utf-8") as f:
            originals = [json.loads(line)["text"] for line in f]
        assert [mark(e, SCIBERT_MARKERS).text for e in examples] == originals
        assert not any("<< " in e.text or "[[ " in e.text for e in examples)
    assert sizes == {"train": 4169, "dev": 2427, "test": 3469}
    assert len(every_label) == 13  # positive relations only: no negative class


@pytest.mark.parametrize("ending", LINE_ENDINGS)
def test_tsv_every_line_ending_reads_like_lf(tmp_path, ending):
    text = GAD_TEST + "\n2\t@GENE$ then @DISEASE$.\t1\n"
    expected = read_biobert_tsv(_write(tmp_path / "test.tsv", text))
    examples = read_biobert_tsv(_write(tmp_path / "test.tsv", with_line_endings(text, ending)))
    assert examples == expected
    assert [e.line for e in examples] == [2, 3, 5]


def test_tsv_cr_only_errors_name_the_right_line(tmp_path):
    path = _write(tmp_path / "train.tsv", "@GENE$ causes @DISEASE$.\t1\r\rno label @GENE$ @DISEASE$\r")
    with _raises_at(path, 3, "1 tab-separated columns, expected 2"):
        read_biobert_tsv(path)
    blank = _write(tmp_path / "empty.tsv", "\r\r\r")
    with _raises_at(blank, 3, r"no examples .* \(3 lines"):
        read_biobert_tsv(blank)
