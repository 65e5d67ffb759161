"""NER model side: windows (no word lost), span decoding, merging, the tagger and its
SavedModel, and run_ner.py end to end."""

import json
import os
import shutil
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.tasks.ner import inputs as ner_inputs
from biobert_tf import resources
from biobert_tf.bert.config import BertConfig
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.tasks.ner.model import NerLabels, NerModel, NerTagger, entity_spans, merge_windows
from biobert_tf.tasks.ner.data import read_conll
from biobert_tf.tasks.ner.metrics import get_entities
from biobert_tf.bert.tokenization import BertTokenizer
from biobert_tf.annotation import pubtator as pubtator_format
from biobert_tf.engine import prediction_formats
from helpers import REPO, python, serve_each_in_fresh_process, xla_compiled_functions

VOCAB = resources.path(resources.DEMO_VOCAB)
DEMO_DATA = resources.path(resources.NER_DEMO_DIR)


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB, do_lower_case=False)


def tiny_encoder(seq_length=64):
    return BertEncoder.from_bert_config(BertConfig(
        vocab_size=len(open(VOCAB, encoding="utf-8").read().splitlines()), hidden_size=16,
        num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=seq_length))


def words_tensor(sentences):
    return tf.ragged.constant(sentences, dtype=tf.string)


@pytest.mark.parametrize("seq_length,stride", [(16, 7), (16, 14), (32, 5), (128, 63)])
def test_every_word_of_long_sentences_is_owned_by_exactly_one_window(tokenizer, seq_length,
                                                                      stride):
    rng = np.random.default_rng(seq_length + stride)
    vocabulary = ["BRCA1", "mutations", "in", "hereditary", "breast", "-", "ovarian",
                  "cancer", "Huntington", "'s", "disease", "\u200b", "x" * 150, "."]
    sentences = [list(rng.choice(vocabulary, size=n)) for n in (1, 5, 1200, 60, 2)]
    windows = ner_inputs.make_windows(ner_inputs.word_pieces(tokenizer, words_tensor(sentences)),
                                      tokenizer, seq_length, stride)
    word, owned = windows.word_ids.numpy(), windows.owned.numpy()
    sentence, mask = windows.sentence.numpy(), windows.padding_mask.numpy()
    assert windows.token_ids.shape[1] == seq_length and mask[:, 0].all()
    for s, words in enumerate(sentences):
        rows = sentence == s
        predicted = word[rows][owned[rows] & (word[rows] >= 0)]
        assert sorted(predicted) == list(range(len(words))), f"sentence {s}"
    # Owned positions are real pieces, never [CLS], [SEP] or padding.
    ids = windows.token_ids.numpy()[owned]
    assert tokenizer.cls_id not in ids and tokenizer.sep_id not in ids
    assert not (owned & (mask == 0)).any()


def test_a_word_without_wordpieces_becomes_unk_instead_of_vanishing(tokenizer):
    pieces = ner_inputs.word_pieces(tokenizer, words_tensor([["a", "\u200b", "\x00", "b"]]))
    assert pieces.word_ids.to_list() == [[0, 1, 2, 3]]
    assert pieces.token_ids.to_list()[0][1:3] == [tokenizer.unk_id] * 2


def test_stride_must_fit_the_window(tokenizer):
    pieces = ner_inputs.word_pieces(tokenizer, words_tensor([["a"]]))
    with pytest.raises(ValueError, match="stride"):
        ner_inputs.make_windows(pieces, tokenizer, 16, 15)


def test_text_words_have_character_spans(tokenizer):
    text = "Mutations in BRCA1, e.g. c.68_69delAG, cause cancer."
    words = ner_inputs.text_pieces(tokenizer, tf.constant([text, ""]),
                                   ner_inputs.continuation_table(tokenizer.vocab))
    spans = list(zip(words.starts.to_list()[0], words.ends.to_list()[0]))
    assert [text[a:b] for a, b in spans] == ["Mutations", "in", "BRCA1", ",", "e", ".", "g", ".",
                                             "c", ".", "68", "_", "69delAG", ",", "cause",
                                             "cancer", "."]
    assert words.starts.to_list()[1] == []


@pytest.mark.parametrize("labels,scheme", [
    (["O", "B", "I"], "bio"),
    (["O", "B-Chem", "I-Chem", "B-Dis", "I-Dis"], "bio"),
    (["O", "B-Chem", "I-Chem", "E-Chem", "S-Chem", "B-Dis", "I-Dis", "E-Dis", "S-Dis"], "bioes"),
])
def test_entity_spans_match_conlleval_chunks(labels, scheme):
    rng = np.random.default_rng(len(labels))
    sequences = [list(rng.integers(0, len(labels), size=n)) for n in rng.integers(0, 12, 300)]
    ner_labels = NerLabels(labels, scheme)
    spans = entity_spans(tf.ragged.constant(sequences, dtype=tf.int32, ragged_rank=1),
                         ner_labels)
    for i, sequence in enumerate(sequences):
        expected = [(t or "", a, b) for t, a, b in get_entities([labels[j] for j in sequence])]
        got = [(ner_labels.types[k], a, b) for k, a, b in zip(
            spans["type"][i].numpy(), spans["start"][i].numpy(), spans["end"][i].numpy())]
        assert got == expected, [labels[j] for j in sequence]


def test_merge_windows_reads_each_word_from_its_owner(tokenizer):
    sentences = [["w%d" % (i % 7) for i in range(n)] for n in (3, 90, 1)]
    windows = ner_inputs.make_windows(ner_inputs.word_pieces(tokenizer, words_tensor(sentences)),
                                      tokenizer, 16, 6)
    word = windows.word_ids.numpy()
    # A "prediction" that encodes the word index, wrong (-1) outside owned positions.
    tags = np.where(windows.owned.numpy(), word, -1).astype(np.int32)
    merged, _ = merge_windows(tags, np.ones(tags.shape, np.float32), windows.sentence,
                              windows.word_ids, windows.owned, [len(s) for s in sentences])
    assert merged.to_list() == [list(range(len(s))) for s in sentences]


def random_tagger(tokenizer, use_crf, seq_length=32, jit_compile=False):
    keras.utils.set_random_seed(3)
    labels = NerLabels(["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"], "bio")
    model = NerModel(tiny_encoder(seq_length), labels, use_crf=use_crf)
    model({k: tf.zeros([1, 8], tf.int32) for k in
           ("token_ids", "segment_ids", "padding_mask", "word_ids")})
    kernel, bias = model.classifier.weights
    kernel.assign(kernel * 300.0)  # decisive random tags, so that entities appear
    bias.assign([2.0, 0, 0, 0, 0])
    return NerTagger(model, ner_inputs.WordpieceFeatures(tokenizer), seq_length, stride=10,
                     batch_windows=4, jit_compile=jit_compile)


TEXTS = ["Cisplatin-induced nephrotoxicity in BRCA1 carriers with ovarian cancer.",
         "",
         "Ω-3 fatty acids – and naïve T cells – in Crohn's disease " * 12,
         "aspirin"]


@pytest.fixture(scope="module")
def served_taggers(tokenizer, tmp_path_factory):
    """Per use_crf: a random tagger's outputs for TEXTS, and the outputs of the SavedModel of
    the same tagger with its model XLA-compiled (as exported), served in a fresh process (one
    process for both taggers)."""
    directory = tmp_path_factory.mktemp("taggers")
    expected, saved = {}, {}
    for use_crf in (False, True):
        tagger = random_tagger(tokenizer, use_crf)
        expected[use_crf] = {k: v.numpy() for k, v in tagger(tf.constant(TEXTS)).items()}
        compiled = random_tagger(tokenizer, use_crf, jit_compile=True)
        saved[use_crf] = directory / f"crf_{use_crf}"
        tf.saved_model.save(compiled, str(saved[use_crf]),
                            signatures={"serving_default": compiled.__call__})
    reloaded = serve_each_in_fresh_process(list(saved.values()), {"texts": TEXTS}, directory)
    return {use_crf: (expected[use_crf], served, saved[use_crf])
            for use_crf, served in zip(saved, reloaded)}


@pytest.mark.parametrize("use_crf", [False, True])
def test_compiled_tagger_savedmodel_matches_eager_and_reloads_with_tensorflow_text_only(
        served_taggers, use_crf):
    expected, reloaded, saved_dir = served_taggers[use_crf]
    assert xla_compiled_functions(saved_dir) == 1
    assert expected["num_entities"].sum() > 5
    for row, text in enumerate(TEXTS):
        for j in range(expected["num_entities"][row]):
            start, end = expected["start"][row, j], expected["end"][row, j]
            assert text[start:end] == expected["text"][row, j].decode()
            assert 0 < expected["score"][row, j] <= 1
    assert set(t.decode() for t in expected["type"].ravel()) <= {"Chemical", "Disease", ""}

    for key in ("start", "end", "num_entities"):
        assert reloaded[key] == expected[key].tolist(), key
    assert reloaded["type"] == [[s.decode() for s in r] for r in expected["type"]]
    # XLA's fused kernels round differently, and the 300-fold classifier magnifies it.
    np.testing.assert_allclose(reloaded["score"], expected["score"], atol=1e-4)


def run_ner(*args, timeout=600):
    result = subprocess.run([*python(), str(REPO / "run_ner.py"), *args],
                            capture_output=True, text=True, timeout=timeout)
    return result


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny_ner_model")
    BertConfig(vocab_size=len(open(VOCAB, encoding="utf-8").read().splitlines()),
               hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
               max_position_embeddings=64).to_json_file(str(directory / "bert_config.json"))
    return directory


@pytest.fixture(scope="module")
def ner_data_dir(tmp_path_factory):
    """The demo's NCBI cut, with a 1,500-token sentence appended to the test set."""
    directory = tmp_path_factory.mktemp("ner_data")
    for name in ("train.tsv", "devel.tsv"):
        (directory / name).write_text(
            "\n\n".join(open(os.path.join(DEMO_DATA, name), encoding="utf-8").read()
                        .strip().split("\n\n")[:100]) + "\n", encoding="utf-8")
    test = open(os.path.join(DEMO_DATA, "test.tsv"), encoding="utf-8").read().strip()
    sentences = test.split("\n\n")
    long_sentence = "\n\n".join(sentences[:80]).replace("\n\n", "\n").replace(".\tO\n", ",\tO\n")
    (directory / "test.tsv").write_text(
        "\n\n".join(sentences[:20] + [long_sentence]) + "\n", encoding="utf-8")
    return directory


@pytest.mark.parametrize("use_crf", [False, True])
def test_run_ner_trains_and_predicts_every_test_token(tiny_model_dir, ner_data_dir, tmp_path,
                                                      use_crf):
    out = tmp_path / "out"
    result = run_ner(
        f"--data_dir={ner_data_dir}", "--train_file=train.tsv", f"--output_dir={out}",
        f"--bert_config_file={tiny_model_dir}/bert_config.json", f"--vocab_file={VOCAB}",
        "--do_lower_case=false", "--do_train", "--do_predict", "--max_seq_length=64",
        "--train_batch_size=16", "--learning_rate=1e-3", "--iterations_per_loop=5",
        "--predict_batch_size=16",
        # The CRF run only trains one epoch and predicts (dev scores and early stopping are
        # the softmax run's). No --export_dir: the tagger SavedModels are tested above, and
        # run_ner.py's export by tests/tfrecords_tools/test_annotate.py, which tags with it.
        *(["--use_crf", "--num_train_epochs=1"] if use_crf else
          ["--do_eval", "--num_train_epochs=2", "--early_stopping_patience=1"]))
    assert result.returncode == 0, result.stderr[-4000:]
    test = read_conll(str(ner_data_dir / "test.tsv"))
    assert max(len(s.tokens) for s in test) > 1000
    conll = [line.split(" ") for line in
             (out / "NER_result_conll.txt").read_text(encoding="utf-8").split("\n") if line]
    assert [row[0] for row in conll] == [t for s in test for t in s.tokens]
    assert [row[1] for row in conll] == [t for s in test for t in s.labels]
    predictions = [json.loads(line) for line in
                   (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [len(p["pred"]) for p in predictions] == [len(s.tokens) for s in test]
    report = (out / "test_results.txt").read_text()
    assert f"processed {sum(len(s.tokens) for s in test)} tokens" in report
    assert "labels.json" in os.listdir(out)
    if use_crf:
        # The same test set as a TFDS data set (prepared from a release-like folder): the
        # same predictions and scores; the saved --data_dir is not taken with --tfds_name.
        release = tmp_path / "release" / "NER" / "NCBI-disease"
        release.mkdir(parents=True)
        for name in ("train.tsv", "devel.tsv", "test.tsv"):
            shutil.copy(ner_data_dir / name, release / name)
        tfds_run = run_ner(f"--output_dir={out}", "--do_predict",
                           "--tfds_name=biobert_ner/ncbi_disease",
                           f"--tfds_data_dir={tmp_path / 'tfds'}",
                           f"--tfds_manual_dir={tmp_path / 'release'}")
        assert tfds_run.returncode == 0, tfds_run.stderr[-4000:]
        [fresh] = [p for p in out.iterdir() if p.name.startswith("predict-")]
        assert (fresh / "test_results.txt").read_text() == report
        assert (fresh / "NER_result_conll.txt").read_bytes() == \
            (out / "NER_result_conll.txt").read_bytes()
        return
    assert "eval_results.txt" in os.listdir(out)
    assert len(json.loads((out / "dev_history.json").read_text())) >= 1
    # Re-running resumes (nothing left to train) and predicts the same.
    again = run_ner(
        f"--data_dir={ner_data_dir}", "--train_file=train.tsv", f"--output_dir={out}",
        f"--bert_config_file={tiny_model_dir}/bert_config.json", f"--vocab_file={VOCAB}",
        "--do_lower_case=false", "--do_train", "--do_predict", "--num_train_epochs=2",
        "--early_stopping_patience=1", "--max_seq_length=64", "--train_batch_size=16",
        "--predict_batch_size=16")
    assert again.returncode == 0, again.stderr[-4000:]
    assert "restored step" in again.stderr
    assert (out / "test_results.txt").read_text() == report

    # The run directory describes itself: predict-only needs no other flag (not even
    # --data_dir), and its results go to a fresh folder, never over the training run's.
    # A file of raw text too, written for PubTator (the offsets of real entities are checked
    # on the decisive random tagger: test_tag_file_streams_..., this run's tagger finds few).
    documents = tmp_path / "documents.txt"
    documents.write_text("Ovarian cancer in BRCA1 carriers.\n\nNaïve α-thalassemia and "
                         "ovarian cancer 😀 patients.\n", encoding="utf-8")
    predicted = run_ner(f"--output_dir={out}", "--do_predict",
                        "--predict_text=Ovarian cancer in BRCA1 carriers.",
                        f"--predict_file={documents}", "--predict_format=pubtator")
    assert predicted.returncode == 0, predicted.stderr[-4000:]
    [fresh] = [p for p in out.iterdir() if p.name.startswith("predict-")]
    assert f"results go to {fresh}" in predicted.stderr
    assert (fresh / "test_results.txt").read_text() == report
    tagged = json.loads((fresh / "text_predictions.jsonl").read_text())
    assert tagged["text"] == "Ovarian cancer in BRCA1 carriers."
    pubtator = [(d.id, d.text, [m[:4] for m in d.mentions])
                for d in pubtator_format.parse((out / "file_predictions.pubtator").read_text("utf-8"))]
    assert [doc_id for doc_id, _, _ in pubtator] == ["1", "3"]
    lines = [json.loads(line) for line in
             (out / "file_predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert lines[0]["entities"] == tagged["entities"]  # the same text, tagged the same
    assert pubtator[0][2] == [
        (e["start"] + 1, e["end"] + 1, e["text"], e["type"]) for e in lines[0]["entities"]]
    assert all(text[start:end] == mention for _, text, mentions in pubtator
               for start, end, mention, _ in mentions)
    assert (out / "test_results.txt").read_text() == report
    # A flag that contradicts the trained model is one line naming both values.
    wrong = run_ner(f"--output_dir={out}", "--do_predict", "--do_lower_case=true")
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    [line] = [x for x in wrong.stderr.splitlines() if "contradicts" in x]
    assert "--do_lower_case=true" in line and "do_lower_case=false" in line


def test_a_malformed_test_file_fails_before_any_training(tmp_path, tiny_model_dir,
                                                         ner_data_dir):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.tsv").write_text((ner_data_dir / "train.tsv").read_text(encoding="utf-8"),
                                    encoding="utf-8")
    (data / "test.tsv").write_text("BRCA1\tB\ncancer\n", encoding="utf-8")
    result = run_ner(f"--data_dir={data}", "--train_file=train.tsv",
                     f"--output_dir={tmp_path / 'out'}",
                     f"--bert_config_file={tiny_model_dir}/bert_config.json",
                     f"--vocab_file={VOCAB}", "--do_train", "--do_predict",
                     "--max_seq_length=64")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{data / 'test.tsv'}:2" in result.stderr
    assert not list((tmp_path / "out").glob("**/ckpt-*.index"))  # nothing was trained


def test_run_ner_names_the_malformed_line(tmp_path, tiny_model_dir):
    (tmp_path / "train.tsv").write_text("BRCA1\tB\ncancer\n", encoding="utf-8")
    result = run_ner(f"--data_dir={tmp_path}", "--train_file=train.tsv",
                     f"--output_dir={tmp_path / 'out'}",
                     f"--bert_config_file={tiny_model_dir}/bert_config.json",
                     f"--vocab_file={VOCAB}", "--do_train")
    assert result.returncode != 0
    assert f"{tmp_path / 'train.tsv'}:2" in result.stderr


# One TensorFlow process: a tiny tagger (argv[1]: "crf" or "softmax") trained 2 steps eagerly
# and XLA-compiled under MirroredStrategy on 2 CPUs (one arm for both: a compiled step on one
# device costs another XLA compilation; tests/engine/test_training.py compiles one), on
# batches of one padded length, without dropout: XLA draws other masks than TensorFlow's
# kernels (the XLA resume test in tests/engine/test_training.py has dropout); then its
# predictions on 1 replica padded per batch, and on 2 replicas padded to multiples of 8. Prints
# the largest weight difference to the eager run and whether the predictions agree.
STRATEGY_SCRIPT = r"""
import sys, numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from biobert_tf.engine import batching
from biobert_tf.engine import training
from biobert_tf.bert.config import BertConfig
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.tasks.ner.model import NerLabels, NerModel, TaggingObjective
from biobert_tf.engine.optimization import create_optimizer
rng = np.random.default_rng(0)
features = {"token_ids": rng.integers(5, 60, (13, 12)).astype(np.int32),
            "segment_ids": np.zeros((13, 12), np.int32),
            "padding_mask": (np.arange(12)[None] < rng.integers(3, 13, (13, 1))).astype(np.int32)}
features["word_ids"] = np.where(features["padding_mask"] > 0, np.arange(12)[None], -1).astype(np.int32)
features["label_ids"] = np.where(features["padding_mask"] > 0, rng.integers(0, 3, (13, 12)), -1).astype(np.int32)
inputs = {k: v for k, v in features.items() if k != "label_ids"}
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

def trainer(strategy, out, jit_compile):
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = NerModel(BertEncoder.from_bert_config(BertConfig(
            vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=32, max_position_embeddings=16, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0)), NerLabels(["O", "B", "I"], "bio"),
            use_crf=sys.argv[1] == "crf", dropout=0.0)
        model({k: v[:1] for k, v in inputs.items()})
        optimizer = create_optimizer(1e-2, 10, 0, aggregate_gradients=False)
    return training.Trainer(strategy, TaggingObjective(model), optimizer,
                            training.LoopConfig(out, 2, 1, 100, global_batch_size=4,
                                                jit_compile=jit_compile))

plan = batching.train_plan(features["padding_mask"].sum(1), 4, 1, 0)
weights = {}
for name, strategy, jit in (("eager", tf.distribute.get_strategy(), False),
                            ("mirrored_xla", mirrored, True)):
    loop = trainer(strategy, sys.argv[2] + name, jit)
    # One padded length (12): each shape costs an XLA compilation per replica.
    loop.fit(lambda c, start: batching.make_dataset(features, plan, c, start_step=start,
                                                    length_multiple=12))
    weights[name] = [v.numpy() for v in loop.objective.model.weights]
moved = max(np.abs(a - b).max() for a, b in zip(weights["eager"], trainer(
    tf.distribute.get_strategy(), sys.argv[2] + "fresh", False).objective.model.get_weights()))
print("mirrored_xla", max(np.abs(a - b).max()
                         for a, b in zip(weights["eager"], weights["mirrored_xla"])))
print("moved", moved)

tags = {}
for name, strategy, multiple in (("one", tf.distribute.get_strategy(), 1),
                                 ("two_bucketed", mirrored, 8)):
    loop = trainer(strategy, sys.argv[2] + "predict-" + name, False)
    result = loop.predict(lambda c: batching.make_dataset(
        inputs, batching.predict_plan(13, 4), c, length_multiple=multiple))
    tags[name] = np.concatenate([np.pad(r["tags"], [(0, 0), (0, 12 - r["tags"].shape[1])])
                                 for r in result])[:13]
assert tags["one"].shape == (13, 12), tags["one"].shape
print("predictions", "same" if all((tags[n] == tags["one"]).all() for n in tags) else "differ")
"""


def test_compiled_and_mirrored_steps_and_bucketed_predictions_agree(tmp_path):
    # The CRF head: its loss and decoding compact and re-expand positions, in a compiled step
    # too (the softmax head's compiled step is the pretraining test's).
    result = subprocess.run([*python(), "-c", STRATEGY_SCRIPT, "crf", str(tmp_path) + "/"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = dict(line.split() for line in result.stdout.splitlines())
    assert float(lines["moved"]) > 1e-3  # two steps at lr 1e-2 did train
    assert float(lines["mirrored_xla"]) < 1e-5, lines
    # Predictions on 2 replicas keep example order (the CRF compacts and re-expands positions
    # per replica) and do not depend on how far batches are padded.
    assert lines["predictions"] == "same", result.stdout


def test_tag_file_streams_and_resumes_after_an_interruption(tokenizer, tmp_path):
    from biobert_tf.engine.file_prediction import predict_file
    from biobert_tf.tasks.ner.task import tag_texts

    def tag_file(tagger, path, output_path, batch_size=32, progress=True):
        return predict_file(lambda texts: tag_texts(tagger, texts), path, output_path,
                            batch_size, progress)

    tagger = random_tagger(tokenizer, use_crf=False)
    source = tmp_path / "docs.txt"
    source.write_text("\n".join(TEXTS[:1] + ["", "  "] + TEXTS[2:] + ["BRCA1 and BRCA2."] * 4),
                      encoding="utf-8")
    full = tmp_path / "full.jsonl"
    assert tag_file(tagger, str(source), str(full), batch_size=3, progress=False) == 7
    lines = full.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["line"] for line in lines] == [1, 4, 5, 6, 7, 8, 9]
    # Killed after four documents, in the middle of writing the fifth.
    partial = tmp_path / "partial.jsonl"
    partial.write_text("\n".join(lines[:4]) + "\n" + lines[4][:10], encoding="utf-8")
    assert tag_file(tagger, str(source), str(partial), batch_size=3, progress=False) == 3
    assert partial.read_text(encoding="utf-8").splitlines() == lines
    # Rendered for PubTator and BioC, every offset of the tagger's entities slices its mention
    # (non-ASCII text, many entities).
    pubtator, bioc = tmp_path / "full.pubtator", tmp_path / "full.bioc.json"
    prediction_formats.render_file(str(full), str(pubtator), "pubtator")
    prediction_formats.render_file(str(full), str(bioc), "bioc_json")
    mentions = [(d.text, m[:4]) for d in pubtator_format.parse(pubtator.read_text("utf-8"))
                for m in d.mentions]
    assert len(mentions) == sum(len(json.loads(line)["entities"]) for line in lines) > 5
    assert all(text[start:end] == mention != "" for text, (start, end, mention, _) in mentions)
    passages = [d["passages"][0] for d in json.loads(bioc.read_text("utf-8"))["documents"]]
    assert all(p["text"][a["locations"][0]["offset"]:][:a["locations"][0]["length"]] == a["text"]
               for p in passages for a in p["annotations"])

    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nnot \xff utf-8\n")
    with pytest.raises(ValueError, match="bad.txt:2: not UTF-8"):
        tag_file(tagger, str(bad), str(tmp_path / "bad.jsonl"), progress=False)
