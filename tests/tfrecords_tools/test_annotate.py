"""`python -m tfrecords_tools.annotate` end to end, with a NER model and a GAD relation model
trained and exported here (tiny, both at once): PubTator and BioC JSON shards read back, Beam
(DirectRunner, 2 threads) writing the single-process bytes of the unfinished shards, finished
shards skipped, bad documents listed, the run record and its one-line error (the start-up errors are
test_annotator's)."""

import json
import re
import shutil
import subprocess
from xml.sax.saxutils import escape

import pytest

from biobert_tf.annotation import bioc_json, pubtator
from biobert_tf.bert.config import BertConfig
from helpers import REPO, corpus_lines, python, re_vocab, shared_file
from tfrecords_tools.corpus import split_sentences

# The NER training data labels these words, so that the tiny model finds them in the abstracts
# (the relation model reads Gene/Disease pairs: GAD's entity types).
TERMS = {"synuclein": "Gene", "warfarin": "Gene", "biologic": "Gene", "biologics": "Gene",
         "disease": "Disease", "diabetes": "Disease"}


def abstracts():
    """Three real abstracts with non-ASCII characters and the words of TERMS."""
    return [line for line in corpus_lines()
            if "disease" in line and re.search(r"[^\x00-\x7f]", line) and len(line) < 1600][:3]


def training_tsv():
    """The abstracts' sentences as CoNLL rows, TERMS tagged."""
    sentences = [s for text in abstracts() for s in split_sentences(text)]
    return "\n\n".join(
        "\n".join(f"{w}\t{'B-' + TERMS[w.lower()] if w.lower() in TERMS else 'O'}"
                  for w in re.findall(r"\w+|[^\w\s]", s))
        for s in sentences) + "\n"


def pubmed_article(pmid, text):
    """A PubmedArticle: the first sentence as title, the rest in two labelled sections."""
    title, *rest = split_sentences(text)
    half = len(rest) // 2
    sections = "".join(f'<AbstractText Label="{label}">{escape(" ".join(part))}</AbstractText>'
                       for label, part in (("BACKGROUND", rest[:half]), ("RESULTS", rest[half:])))
    pmid = f"<PMID>{pmid}</PMID>" if pmid else ""
    return (f"<PubmedArticle><MedlineCitation>{pmid}<Article><ArticleTitle>{escape(title)}"
            f"</ArticleTitle><Abstract>{sections}</Abstract></Article></MedlineCitation>"
            "</PubmedArticle>\n")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """pubmed.xml: the three abstracts (PMIDs 1, 3, 4) and a record without a PMID (line 4);
    bioc.xml: a document PubTator cannot name ("b|1") and a good one."""
    directory = tmp_path_factory.mktemp("inputs")
    first, second, third = abstracts()
    (directory / "pubmed.xml").write_text(
        "<PubmedArticleSet>\n" + pubmed_article("1", first) + pubmed_article("3", second)
        + pubmed_article("", third) + pubmed_article("4", third) + "</PubmedArticleSet>\n",
        encoding="utf-8")
    passage = ("<passage><infon key='type'>abstract</infon><offset>0</offset><text>{}</text>"
               "</passage>")
    (directory / "bioc.xml").write_text(
        "<collection>\n" + "".join(f"<document><id>{doc_id}</id>{passage.format(escape(text))}"
                                   "</document>\n"
                                   for doc_id, text in (("b|1", first), ("b2", second)))
        + "</collection>\n", encoding="utf-8")
    return directory


def run_module(module, *args, timeout=600):
    return subprocess.run([*python(), "-m", module, *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{"ner": a typed Gene/Disease tagger, "re": a GAD classifier}, trained at the same time."""
    root = tmp_path_factory.mktemp("exports")
    vocab = re_vocab()
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=64, max_position_embeddings=64).to_json_file(
        str(root / "bert_config.json"))
    (root / "ner_data").mkdir()
    (root / "ner_data" / "train.tsv").write_text(training_tsv(), encoding="utf-8")
    (root / "gad").mkdir()
    with open(shared_file("re", "GAD", "1", "train.tsv"), encoding="utf-8") as f:
        (root / "gad" / "train.tsv").write_text("".join(f.readlines()[:32]), encoding="utf-8")
    common = [f"--bert_config_file={root / 'bert_config.json'}",
              f"--vocab_file={root / 'vocab.txt'}", "--do_lower_case=false",
              "--max_seq_length=64", "--do_train", "--iterations_per_loop=50"]
    runs = [subprocess.Popen(
        [*python(), str(REPO / script), *common, *flags], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=root)
        for script, flags in (
            ("run_ner.py", ["--data_dir=ner_data", "--train_file=train.tsv", "--output_dir=ner_run",
                            "--num_train_epochs=16", "--train_batch_size=8",
                            "--learning_rate=3e-3", f"--export_dir={root / 'ner'}"]),
            ("run_re.py", ["--task_name=gad", "--data_dir=gad", "--output_dir=re_run",
                           "--num_train_epochs=1", "--train_batch_size=16",
                           "--learning_rate=1e-3", f"--export_dir={root / 're'}"]))]
    for process in runs:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
    return {"ner": root / "ner", "re": root / "re"}


def annotate(inputs, exports, prefix, *flags):
    result = run_module("tfrecords_tools.annotate", f"--input={inputs}/*.xml",
                        f"--ner_model={exports['ner']},{exports['ner']}",
                        f"--re_model={exports['re']}", "--re_threshold=0",
                        f"--output_prefix={prefix}", "--documents_per_chunk=2", *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


SHARDS = ["bioc-00000", "pubmed-00000", "pubmed-00001"]


@pytest.fixture(scope="module")
def single_run(inputs, exports, tmp_path_factory):
    prefix = tmp_path_factory.mktemp("single") / "ann"
    result = annotate(inputs, exports, prefix, "--single_process")
    return prefix, result


def shard_bytes(prefix, extension=".pubtator"):
    return {name: (prefix.parent / f"{prefix.name}-{name}{extension}").read_bytes()
            for name in SHARDS}


def sidecar(prefix, name, extension=".pubtator"):
    return json.loads((prefix.parent / f"{prefix.name}-{name}{extension}.done.json").read_text())


def check_relations(entity_types, relations):
    """Relations of a document: (e1 id, e2 id, score) against its entities' types by id."""
    for e1, e2, score in relations:
        assert (entity_types[e1], entity_types[e2]) == ("Gene", "Disease")
        assert 0 <= score <= 1


def test_pubtator_shards_read_back_with_their_entities_relations_and_skipped_documents(
        single_run, inputs):
    prefix, result = single_run
    shards = shard_bytes(prefix)
    documents = {name: pubtator.parse(text.decode("utf-8")) for name, text in shards.items()}
    assert [[d.id for d in docs] for docs in documents.values()] == [["b2"], ["1", "3"], ["4"]]
    mentions = relations = 0
    for doc in (d for docs in documents.values() for d in docs):
        # parse() checks that each span slices its mention out of TITLE + " " + ABSTRACT.
        assert {m.type for m in doc.mentions} <= {"Gene", "Disease"}
        assert all(TERMS[m.text.lower()] == m.type for m in doc.mentions)
        spans = [(m.start, m.end, m.type) for m in doc.mentions]
        assert spans == sorted(set(spans))  # the model named twice: merged
        types = {f"T{i}": m.type for i, m in enumerate(doc.mentions)}
        check_relations(types, [(r.id1, r.id2, r.score) for r in doc.relations])
        mentions, relations = mentions + len(doc.mentions), relations + len(doc.relations)
    assert mentions > 10 and relations > 0
    # The title is the first sentence, the abstract the rest; an abstract is 1 past the title.
    first = documents["pubmed-00000"][0]
    assert first.text == abstracts()[0]

    bad = sidecar(prefix, "pubmed-00001")
    assert (bad["documents"], bad["entities"], bad["relations"]) == (
        1, len(documents["pubmed-00001"][0].mentions), len(documents["pubmed-00001"][0].relations))
    assert bad["skipped"] == [{"id": None, "source": f"{inputs}/pubmed.xml:4",
                               "reason": "<PubmedArticle> without a PMID"}]
    [unnamed] = sidecar(prefix, "bioc-00000")["skipped"]
    assert (unnamed["id"], unnamed["source"]) == ("b|1", f"{inputs}/bioc.xml:2")
    assert "|" in unnamed["reason"]
    assert sidecar(prefix, "pubmed-00000")["skipped"] == []
    assert {"seconds", "docs_per_second", "peak_rss_mb"} <= sidecar(prefix, "pubmed-00000").keys()
    assert "4 documents annotated" in result.stderr and "2 documents skipped" in result.stderr
    record = json.loads((prefix.parent / "ann.run.json").read_text())
    assert [len(m["sha256"]) for m in record["settings"]["models"]] == [64, 64, 64]
    assert record["input_sizes"] == {"bioc": (inputs / "bioc.xml").stat().st_size,
                                     "pubmed": (inputs / "pubmed.xml").stat().st_size}


def test_beam_writes_the_unfinished_shards_with_the_single_process_bytes(single_run, inputs,
                                                                       exports, tmp_path):
    # A rerun of the single-process run: the shards Beam writes are compared with it, and the
    # finished shard is skipped (a rerun in a single process: the next test).
    shutil.copytree(single_run[0].parent, tmp_path, dirs_exist_ok=True)
    prefix = tmp_path / "ann"
    expected = shard_bytes(prefix)
    lost = ["pubmed-00000", "pubmed-00001"]  # the second has a skipped document
    for name in lost:
        (tmp_path / f"ann-{name}.pubtator").unlink()
        (tmp_path / f"ann-{name}.pubtator.done.json").unlink()
    (tmp_path / "ann-bioc-00000.pubtator").write_text("kept: its sidecar says it is done")
    # Two threads, not processes: each worker process would import TensorFlow and load the
    # three models (20 s of CPU); tests/tfrecords_tools/test_beam_pipeline.py runs the
    # multi-process DirectRunner. The DoFns are pickled into the pipeline either way.
    result = annotate(inputs, exports, prefix, "--", "--runner=DirectRunner",
                      "--direct_num_workers=2", "--direct_running_mode=multi_threading")
    assert "skipped 1 finished shards" in result.stderr
    written = shard_bytes(prefix)
    assert [written[name] for name in lost] == [expected[name] for name in lost]
    assert written["bioc-00000"].startswith(b"kept")
    assert sidecar(prefix, "pubmed-00001")["skipped"] == \
        sidecar(single_run[0], "pubmed-00001")["skipped"]


def test_a_rerun_skips_finished_shards_and_refuses_other_settings(single_run, inputs, exports,
                                                                 tmp_path):
    shutil.copytree(single_run[0].parent, tmp_path, dirs_exist_ok=True)
    prefix = tmp_path / "ann"
    expected = shard_bytes(prefix)
    (tmp_path / "ann-bioc-00000.pubtator").write_text("kept: its sidecar says it is done")
    # Every shard is done (writing an unfinished one: the Beam test above).
    result = annotate(inputs, exports, prefix, "--single_process")
    assert "skipped 3 finished shards" in result.stderr
    assert shard_bytes(prefix) == {**expected, "bioc-00000": b"kept: its sidecar says it is done"}

    other = run_module("tfrecords_tools.annotate", f"--input={inputs}/*.xml",
                       f"--ner_model={exports['ner']},{exports['ner']}",
                       f"--re_model={exports['re']}", "--re_threshold=0.9",
                       f"--output_prefix={prefix}", "--documents_per_chunk=2", "--single_process")
    assert other.returncode == 1 and "Traceback" not in other.stderr
    assert other.stderr.strip().splitlines()[-1].endswith(
        f"error: {prefix}.run.json: written by a run with other re_threshold: choose another "
        "--output_prefix, or delete it and the shards beside it")


def test_bioc_json_shards_read_back(inputs, exports, tmp_path):
    prefix = tmp_path / "ann"
    annotate(inputs, exports, prefix, "--single_process", "--format=bioc_json")
    entities = 0
    for name in SHARDS:
        # parse() checks every annotation slices its passage's text and relations' nodes.
        for doc in bioc_json.parse(shard_bytes(prefix, ".bioc.json")[name].decode("utf-8")):
            assert all(TERMS[e.text.lower()] == e.type for e in doc.entities)
            check_relations({e.id: e.type for e in doc.entities},
                            [(r.e1, r.e2, r.score) for r in doc.relations])
            entities += len(doc.entities)
    assert entities > 10
    # PubTator cannot name "b|1"; BioC JSON can.
    assert sidecar(prefix, "bioc-00000", ".bioc.json")["skipped"] == []


def test_shard_names_an_empty_input_and_the_run_record(tmp_path):
    from biobert_tf.annotation.formats import FORMATS
    from tfrecords_tools.annotate import check_and_record_run, input_stem, named_inputs, \
        read_chunks
    from tfrecords_tools.corpus import CorpusError

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(CorpusError, match=r"empty.txt: no documents in it$"):
        list(read_chunks("empty", str(empty), "auto", 10, "out", FORMATS["pubtator"]))

    assert [input_stem(p) for p in ("in/pubmed23n0001.xml.gz", "docs.txt", "a.b.xml")] == [
        "pubmed23n0001", "docs", "a.b"]
    with pytest.raises(ValueError, match=r"^a/x.xml and b/x.xml.gz would write the same shards "
                                         r"\(PREFIX-x-\*\): rename one$"):
        named_inputs(["a/x.xml", "b/x.xml.gz"])
    first, second = tmp_path / "x.txt", tmp_path / "y.txt"
    first.write_text("a\n")
    second.write_text("bb\n")
    prefix = str(tmp_path / "out" / "ann")
    settings = {"models": [{"spec": {"entity_types": ("GENE", "DISEASE")}}], "re_threshold": 0.5}
    check_and_record_run(prefix, settings, [("x", str(first))])
    check_and_record_run(prefix, settings, [("x", str(first))])  # the same run again
    check_and_record_run(prefix, settings, [("y", str(second))])  # more input: kept apart
    assert json.loads((tmp_path / "out" / "ann.run.json").read_text())["input_sizes"] == {
        "x": 2, "y": 3}
    first.write_text("changed\n")
    # No shard of x finished (its first run failed on it): the new size replaces the old.
    check_and_record_run(prefix, settings, [("x", str(first))])
    (tmp_path / "out" / "ann-x-00000.pubtator.done.json").write_text("{}")
    first.write_text("changed again\n")
    with pytest.raises(ValueError, match="an input named x of 8 bytes was annotated there, now "
                                         "14 bytes"):
        check_and_record_run(prefix, settings, [("x", str(first))])
    with pytest.raises(ValueError, match="ann.run.json: written by a run with other models, "
                                         "re_threshold: choose another --output_prefix"):
        check_and_record_run(prefix, {"models": [], "re_threshold": 0.6}, [])


def test_help_lists_the_flags_and_a_wrong_flag_is_one_line():
    shown = run_module("tfrecords_tools.annotate", "--helpshort")
    assert shown.returncode == 0
    for flag in ("--input_file", "--ner_model", "--re_model", "--re_threshold", "--format",
                 "--output_prefix", "--[no]single_process"):
        assert flag in shown.stdout, flag
    wrong = run_module("tfrecords_tools.annotate", "--inptu=x")
    assert wrong.returncode == 1 and wrong.stderr.strip().splitlines() == [
        "annotate.py: error: Unknown command line flag 'inptu'. Did you mean: input, input_file, "
        "input_format ?"]
