"""The Annotator on SavedModels built here without training: decisive random taggers (many
entities, at arbitrary places) and a relation model whose probability is a function of the
pair's text, so that every relation can be predicted; and its one-line start-up errors."""

import json
import re

import keras
import pytest
import tensorflow as tf

from biobert_tf import resources
from biobert_tf.bert.config import BertConfig
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.bert.tokenization import BertTokenizer
from biobert_tf.engine import serving
from biobert_tf.tasks.ner import inputs as ner_inputs
from biobert_tf.tasks.ner.model import NerLabels, NerModel, NerTagger
from biobert_tf.tasks.relation.model import RelationSpec
from biobert_tf.tasks.relation.pairs import candidate_pairs
from helpers import corpus_lines
from tfrecords_tools import annotator as annotator_module
from tfrecords_tools.annotator import Annotator, ModelRef
from tfrecords_tools.corpus import Document, read_items

TYPED = ["O", "B-Disease", "I-Disease", "B-Gene", "I-Gene"]
RE_SPEC = RelationSpec(("0", "1"), "blind", entity_types=("GENE", "DISEASE"),
                       placeholders=("@GENE$", "@DISEASE$"))


def export_random_tagger(directory, tags):
    """A tagger whose random classifier, magnified, tags decisively: entities everywhere."""
    keras.utils.set_random_seed(3)
    labels = NerLabels(tags, "bio")
    tokenizer = BertTokenizer(resources.path(resources.DEMO_VOCAB), do_lower_case=False)
    model = NerModel(BertEncoder.from_bert_config(BertConfig(
        vocab_size=len(tokenizer.vocab), hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)), labels)
    model({k: tf.zeros([1, 8], tf.int32)
           for k in ("token_ids", "segment_ids", "padding_mask", "word_ids")})
    kernel, bias = model.classifier.weights
    kernel.assign(kernel * 300.0)
    bias.assign([40.0] + [0.0] * (len(tags) - 1))  # one word in ten: fewer pairs to classify
    serving.save(NerTagger(model, ner_inputs.WordpieceFeatures(tokenizer), 64, stride=32,
                           batch_windows=8), str(directory))
    labels.save(str(directory / "labels.json"))
    return str(directory)


def pair_probability(text):
    """The toy relation model's probability of "1" for a model text."""
    return (len(text) % 10) / 9


class ToyRelations(tf.Module):
    """A relation SavedModel's outputs: P("1") = `pair_probability`; valid when both
    placeholders are in the text."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts):
        p = tf.cast(tf.strings.length(texts, unit="UTF8_CHAR") % 10, tf.float32) / 9
        probabilities = tf.stack([1 - p, p], 1)
        valid = tf.logical_and(tf.strings.regex_full_match(texts, r".*@GENE\$.*"),
                               tf.strings.regex_full_match(texts, r".*@DISEASE\$.*"))
        return {"probabilities": probabilities, "valid": valid,
                "label": tf.where(p >= 0.5, "1", "0"), "score": tf.reduce_max(probabilities, 1)}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    typed = export_random_tagger(root / "typed", TYPED)
    untyped = export_random_tagger(root / "untyped", ["O", "B", "I"])
    serving.save(ToyRelations(), str(root / "re"))
    RE_SPEC.save(str(root / "re" / "relation_model.json"))
    return {"typed": typed, "untyped": untyped, "re": str(root / "re")}


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    """Three abstracts (one document per line) and a BioC document whose two passages have
    a gap between them."""
    directory = tmp_path_factory.mktemp("documents")
    abstracts = [line for line in corpus_lines() if re.search(r"[^\x00-\x7f]", line)][:3]
    (directory / "abstracts.txt").write_text("\n".join(abstracts) + "\n", encoding="utf-8")
    (directory / "doc.xml").write_text(
        "<collection><document><id>b1</id>"
        "<passage><infon key='type'>title</infon><offset>0</offset>"
        "<text>BRCA1 and breast cancer.</text></passage>"
        "<passage><infon key='type'>paragraph</infon><offset>100</offset>"
        "<text>Naïve T cells and α-synuclein. Crohn's disease in 12 patients.</text></passage>"
        "</document></collection>", encoding="utf-8")
    items = [*read_items(str(directory / "abstracts.txt"), "lines"),
             *read_items(str(directory / "doc.xml"))]
    assert all(isinstance(item, Document) for item in items)
    return items


def sentences_of(doc):
    """(document offset, text) of each sentence."""
    return [(p.offset + start, p.text[start:end]) for p in doc.passages
            for start, end in p.sentences]


def test_entities_slice_the_text_merge_across_models_and_relations_follow_the_model(
        exports, documents):
    # One model under two names (loaded once, run twice): the same entities twice.
    ner = [ModelRef(exports["typed"], "a"), ModelRef(exports["typed"], "b")]
    annotator = Annotator(ner, ModelRef.parse_list("--re_model", exports["re"] + "=Assoc"), 0.5)
    annotated, unread = annotator.annotate(documents)
    assert unread == 0 and len(annotator._models) == 2
    assert [d.id for d in annotated] == [d.doc_id for d in documents]
    total_relations = 0
    for doc, source in zip(annotated, documents):
        assert doc.passages == source.passages
        assert doc.entities, doc.id
        # Each entity slices its text out of one sentence of a passage.
        sentences = sentences_of(doc)
        for e in doc.entities:
            passage = doc.passage_at(e.start, e.end)
            assert passage.text[e.start - passage.offset:e.end - passage.offset] == e.text
            assert any(o <= e.start and e.end <= o + len(s) for o, s in sentences)
            assert e.type in ("Disease", "Gene") and 0 < e.score <= 1
        # Each entity once, found by both, numbered in document order.
        assert {e.model for e in doc.entities} == {"a+b"}
        keys = [(e.start, e.end, e.type) for e in doc.entities]
        assert keys == sorted(set(keys))
        assert [e.id for e in doc.entities] == [f"T{i}" for i in range(len(keys))]
        # The relations are exactly the candidate pairs of each sentence the toy model scores
        # at least 0.5, typed by the model's name.
        expected = set()
        for offset, text in sentences:
            inside = [e for e in doc.entities
                      if offset <= e.start and e.end <= offset + len(text)]
            pairs, _ = candidate_pairs(
                text, [(e.start - offset, e.end - offset, e.type) for e in inside], RE_SPEC)
            expected |= {(inside[p.e1].id, inside[p.e2].id, round(pair_probability(p.text), 4))
                         for p in pairs if pair_probability(p.text) >= 0.5}
        assert {(r.e1, r.e2, r.score) for r in doc.relations} == expected
        types = {e.id: e.type for e in doc.entities}
        assert all((types[r.e1], types[r.e2], r.type, r.model) == ("Gene", "Disease", "Assoc",
                                                                   "Assoc")
                   for r in doc.relations)
        assert [r.id for r in doc.relations] == [f"R{i}" for i in range(len(doc.relations))]
        total_relations += len(doc.relations)
    assert total_relations > 5 and sum(len(d.entities) for d in annotated) > 20
    # The BioC document's second passage starts at 100, after a gap.
    assert any(e.start >= 100 for e in annotated[-1].entities)


def test_a_renamed_untyped_model_types_its_entities_and_a_threshold_of_zero_keeps_all_pairs(
        exports, documents):
    refs = ModelRef.parse_list("--ner_model", f"{exports['untyped']}=Gene,"
                                              f"{exports['untyped']}=Disease")
    annotator = Annotator(refs, ModelRef.parse_list("--re_model", exports["re"]), 0.0)
    [doc], _ = annotator.annotate(documents[:1])
    spans = {(e.start, e.end) for e in doc.entities}
    assert sorted((e.start, e.end, e.type) for e in doc.entities) == \
        sorted((s, t, kind) for s, t in spans for kind in ("Gene", "Disease"))
    assert {e.model for e in doc.entities} == {"Gene", "Disease"}
    # Every Gene/Disease pair of distinct spans in one sentence, labelled "1", model "re".
    pairs = sum(len(candidate_pairs(text, [(e.start - o, e.end - o, e.type) for e in doc.entities
                                           if o <= e.start and e.end <= o + len(text)],
                                    RE_SPEC)[0])
                for o, text in sentences_of(doc))
    assert len(doc.relations) == pairs > 0
    assert {(r.type, r.model) for r in doc.relations} == {("1", "re")}


def test_model_texts_go_in_length_order_batches_and_results_come_back_in_place():
    seen = []

    def run(batch):
        seen.append(batch)
        return [text.upper() for text in batch]

    texts = ["ccc", "a", "bb", "dddd", "e", ""]
    assert annotator_module._in_length_order(texts, run, 4) == [t.upper() for t in texts]
    assert seen == [["", "a", "e", "bb"], ["ccc", "dddd"]]


def test_model_refs():
    assert ModelRef.parse_list("--ner_model", "out/ncbi/, out/bc2gm=Gene,") == [
        ModelRef("out/ncbi/", "ncbi"), ModelRef("out/bc2gm", "Gene", renamed=True)]
    with pytest.raises(ValueError, match="^--re_model==x: expected DIR or DIR=NAME$"):
        ModelRef.parse_list("--re_model", "=x")


def fake_export(directory, spec_file=None, spec=None):
    """A folder that passes for an export where only its files are read."""
    directory.mkdir()
    (directory / "saved_model.pb").write_bytes(b"")
    if spec_file:
        (directory / spec_file).write_text(json.dumps(spec))
    return str(directory)


def test_start_up_errors_name_the_flag_and_the_folder(tmp_path, exports):
    ner = fake_export(tmp_path / "ner", "labels.json", {"labels": ["O", "B", "I"],
                                                        "scheme": "bio"})
    untyped_re = fake_export(tmp_path / "re", "relation_model.json",
                             {"labels": ["0", "1"], "entity_mode": "blind"})
    chemprot = fake_export(tmp_path / "chemprot", "relation_model.json",
                           {"labels": ["CPR:3", "CPR:4", "false"], "entity_mode": "markers",
                            "entity_types": ["CHEMICAL", "GENE"]})
    (tmp_path / "empty").mkdir()

    def error(ner_value, re_value="", threshold=0.5):
        with pytest.raises(ValueError) as caught:
            Annotator(ModelRef.parse_list("--ner_model", ner_value),
                      ModelRef.parse_list("--re_model", re_value), threshold)
        assert "\n" not in str(caught.value)
        return str(caught.value)

    assert error(str(tmp_path / "empty")).startswith(
        f"--ner_model={tmp_path / 'empty'}: no saved_model.pb there")
    assert error(exports["re"]) == (f"--ner_model={exports['re']}: an export of the other task "
                                    "(it has relation_model.json): give it as --re_model")
    assert error(ner, ner).startswith(f"--re_model={ner}: an export of the other task")
    assert error(ner, untyped_re) == (f"--re_model={untyped_re}: relation_model.json names no "
                                      "entity types: retrain it with --entity_types=X,Y")
    assert error(exports["typed"], chemprot) == (
        f"--re_model={chemprot}: relates CHEMICAL entities, which no --ner_model tags (they tag "
        "Disease, Gene; =NAME types an untyped model's entities)")
    assert error(f"{ner}=Chemical", f"{chemprot}=Interacts").startswith(
        f"--re_model={chemprot}=Interacts: the model has the positive labels CPR:3, CPR:4")
    assert error(f"{exports['typed']}=Gene").startswith(
        f"--ner_model={exports['typed']}=Gene: the model tags typed entities (Disease, Gene)")
    assert error(ner, threshold=1.5) == "--re_threshold=1.5: must be in [0, 1]"
    # An untyped model typed by =NAME satisfies a relation model of that type.
    Annotator(ModelRef.parse_list("--ner_model", f"{ner}=Chemical,{exports['typed']}"),
              ModelRef.parse_list("--re_model", chemprot), 0.5)
