"""Instances from real PubMed text: Google's properties, schema, determinism, command line."""

import functools
import multiprocessing
import pathlib
import random
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from biobert_tf import resources
from biobert_tf.engine import entry
from biobert_tf.pretraining.data import parse_examples
from biobert_tf.bert.tokenization import BertTokenizer
from tfrecords_tools import pipeline
from tfrecords_tools.corpus import read_documents
from tfrecords_tools.instances import InstanceMaker, InstanceOptions, concatenate, truncation_lengths
from helpers import python, shared_file

SEQ, PRED = 64, 10


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(resources.path(resources.DEMO_VOCAB), do_lower_case=False)


@pytest.fixture(scope="module")
def documents():
    docs = list(read_documents(str(shared_file("corpus", "bioasq_abstracts.txt"))))
    return docs[:150]


def _instances(tokenizer, documents, seed=7, **options):
    options = InstanceOptions(**{"max_seq_length": SEQ, "max_predictions_per_seq": PRED, **options})
    tokenized = pipeline.tokenize_documents(tokenizer, documents)
    passes = list(pipeline.make_instances(tokenized, tokenizer.vocab, options, 3, seed))
    return tokenized, concatenate(passes)


@pytest.fixture(scope="module")
def made(tokenizer, documents):
    return _instances(tokenizer, documents)


def _original_ids(instances):
    """input_ids with the masked positions restored from the labels."""
    ids = instances.input_ids.copy()
    rows, slots = np.nonzero(instances.masked_lm_weights)
    ids[rows, instances.masked_lm_positions[rows, slots]] = instances.masked_lm_ids[rows, slots]
    return ids


def test_layout_cls_sep_segments_and_padding(made, tokenizer):
    _, inst = made
    ids = _original_ids(inst)
    lengths = inst.input_mask.sum(axis=1)
    assert len(inst) > 1000 and lengths.max() <= SEQ
    for row in range(len(inst)):
        n = lengths[row]
        assert inst.input_mask[row, :n].all() and not inst.input_mask[row, n:].any()
        assert not ids[row, n:].any() and not inst.segment_ids[row, n:].any()
        seps = np.flatnonzero(ids[row, :n] == tokenizer.sep_id)
        assert ids[row, 0] == tokenizer.cls_id and len(seps) == 2 and seps[1] == n - 1
        assert seps[0] >= 2 and seps[1] - seps[0] >= 2  # both segments non-empty
        assert (inst.segment_ids[row, :seps[0] + 1] == 0).all()
        assert (inst.segment_ids[row, seps[0] + 1:n] == 1).all()


def test_segments_are_contiguous_text_of_the_corpus(made, tokenizer):
    tokenized, inst = made
    corpus = tokenized.tokens.tobytes()
    ids = _original_ids(inst)
    for row in range(0, len(inst), 7):
        n = inst.input_mask[row].sum()
        first_sep = np.flatnonzero(ids[row] == tokenizer.sep_id)[0]
        for segment in (ids[row, 1:first_sep], ids[row, first_sep + 1:n - 1]):
            assert segment.astype(tokenized.tokens.dtype).tobytes() in corpus


def test_number_of_predictions_and_80_10_10(made, tokenizer):
    _, inst = made
    lengths = inst.input_mask.sum(axis=1)
    expected = np.minimum(PRED, np.maximum(1, np.rint(lengths * 0.15)))
    np.testing.assert_array_equal(inst.masked_lm_weights.sum(axis=1), expected)
    rows, slots = np.nonzero(inst.masked_lm_weights)
    positions = inst.masked_lm_positions[rows, slots]
    shown = inst.input_ids[rows, positions]
    labels = inst.masked_lm_ids[rows, slots]
    as_mask = np.mean(shown == tokenizer.mask_id)
    unchanged = np.mean(shown == labels)
    assert len(labels) > 20000
    assert abs(as_mask - 0.8) < 0.01 and abs(unchanged - 0.1) < 0.01
    assert abs(1 - as_mask - unchanged - 0.1) < 0.01
    # Positions are sorted, never [CLS]/[SEP], and padding slots are zero.
    for row in range(len(inst)):
        real = inst.masked_lm_positions[row, inst.masked_lm_weights[row] > 0]
        assert (np.diff(real) > 0).all()
    assert not np.isin(labels, [tokenizer.cls_id, tokenizer.sep_id]).any()
    assert not inst.masked_lm_positions[inst.masked_lm_weights == 0].any()


def test_masked_positions_are_uniform_over_the_candidates(made):
    """Every candidate is equally likely: the random keys carry the position only in their
    lowest bits, to break ties, so no part of a row is preferred."""
    _, inst = made
    full = inst.input_mask.sum(axis=1) == SEQ
    rows, slots = np.nonzero(inst.masked_lm_weights[full])
    counts = np.bincount(inst.masked_lm_positions[full][rows, slots], minlength=SEQ)
    # Positions 1..SEQ-4 hold tokens or the middle [SEP]: the quarters of a row compared.
    quarters = counts[1:SEQ - 3].reshape(4, -1).sum(axis=1)
    rate = quarters / quarters.sum()
    assert full.sum() > 1000
    np.testing.assert_allclose(rate, 0.25, atol=0.02)


@pytest.mark.parametrize("seq_length", [512, 4096])
def test_long_sequences_mask_exactly_num_to_predict(tokenizer, documents, seq_length):
    """Keys of 53 random bits and the position: above 2048 positions fewer random bits fit."""
    _, inst = _instances(tokenizer, documents[:40], max_seq_length=seq_length,
                         max_predictions_per_seq=80)
    lengths = inst.input_mask.sum(axis=1)
    expected = np.minimum(80, np.maximum(1, np.rint(lengths * 0.15)))
    np.testing.assert_array_equal(inst.masked_lm_weights.sum(axis=1), expected)


def test_whole_word_masking_never_splits_a_word(tokenizer, documents):
    _, inst = _instances(tokenizer, documents, do_whole_word_mask=True)
    ids = _original_ids(inst)
    continuation = np.array([t.startswith("##") for t in tokenizer.vocab])[ids]
    masked = np.zeros_like(ids, bool)
    rows, slots = np.nonzero(inst.masked_lm_weights)
    masked[rows, inst.masked_lm_positions[rows, slots]] = True
    # A ## piece continues the word before it, unless [CLS]/[SEP] stands between them.
    inside_word = continuation[:, 1:] & ~np.isin(ids[:, :-1], [tokenizer.cls_id, tokenizer.sep_id])
    assert inside_word.sum() > 1000
    assert (masked[:, 1:] == masked[:, :-1])[inside_word].all()
    lengths = inst.input_mask.sum(axis=1)
    assert (inst.masked_lm_weights.sum(axis=1) <= np.minimum(PRED, np.rint(lengths * 0.15))).all()


def test_next_sentence_labels_and_short_sequences(made, tokenizer, documents):
    _, inst = made
    # Half of the multi-sentence chunks, plus every single-sentence chunk, are random.
    assert 0.45 < inst.next_sentence_labels.mean() < 0.7
    # A short target ends chunks after fewer sentences: with PubMed's ~30-token sentences
    # that mostly shows as more single-sentence chunks, hence more random next sentences.
    _, short = _instances(tokenizer, documents, short_seq_prob=1.0)
    _, full = _instances(tokenizer, documents, short_seq_prob=0.0)
    assert short.input_mask.sum(1).mean() < full.input_mask.sum(1).mean() - 2
    assert short.next_sentence_labels.mean() > full.next_sentence_labels.mean() + 0.1
    assert np.median(full.input_mask.sum(1)) == SEQ


def test_deterministic_per_seed(tokenizer, documents):
    a = _instances(tokenizer, documents[:40], seed=1)[1]
    b = _instances(tokenizer, documents[:40], seed=1)[1]
    c = _instances(tokenizer, documents[:40], seed=2)[1]
    assert list(pipeline.serialize(a)) == list(pipeline.serialize(b))
    assert not np.array_equal(a.input_ids, c.input_ids)


def test_worker_pool_yields_the_in_process_examples_in_chunk_order(documents, tmp_path):
    chunks = list(pipeline.keyed_chunks(0, documents[:30], 3))
    pulled = []

    def counted():
        for chunk in chunks:
            pulled.append(chunk)
            yield chunk

    def made(workers):
        scratch = tmp_path / str(workers)
        scratch.mkdir()
        with pipeline.ExampleMaker(resources.path(resources.DEMO_VOCAB), False,
                                   InstanceOptions(SEQ, PRED), 2, 7, workers, str(scratch),
                                   num_shards=2) as maker:
            results = maker.made(counted())
            first = next(results)
            in_flight = len(pulled)
            return [(documents, [pathlib.Path(p).read_bytes() for p in record_files], summary)
                    for documents, record_files, summary in [first, *results]], in_flight

    in_process, _ = made(1)
    pulled.clear()
    pooled, in_flight = made(2)
    assert len(in_process) == 10 and all(shard for _, records, _ in in_process for shard in records)
    assert pooled == in_process  # documents, records of both shards (bytes), summary of every chunk
    # 2 workers: 2 × 2 chunks in flight and the one read to decide on the pool, not the corpus.
    assert in_flight == 5


def test_a_corpus_the_pool_would_not_speed_up_is_made_in_process(documents, tmp_path):
    with pipeline.ExampleMaker(resources.path(resources.DEMO_VOCAB), False,
                               InstanceOptions(SEQ, PRED), 1, 7, 2, str(tmp_path)) as maker:
        made = list(maker.made(pipeline.keyed_chunks(0, documents[:24], 6)))  # 4 chunks
        assert len(made) == 4 and not multiprocessing.active_children()


def test_a_worker_reports_bad_input_as_one_line_and_bugs_as_they_are(documents, tmp_path,
                                                                     monkeypatch):
    vocab = tmp_path / "vocab.txt"
    with open(resources.path(resources.DEMO_VOCAB), encoding="utf-8") as f:
        lines = f.read().splitlines()
    vocab.write_text("\n".join(t for t in lines if t != "[MASK]") + "\n", encoding="utf-8")
    monkeypatch.setattr(pipeline, "_worker_tokenizer", BertTokenizer(str(vocab), False))
    make = functools.partial(pipeline._worker_chunk_records, (0, 0), documents[:5],
                             InstanceOptions(SEQ, PRED), 1, 7, [str(tmp_path / "records")])
    with pytest.raises(pipeline.WorkerError, match=r"^the vocabulary lacks \[MASK\], needed for "
                                                   "pretraining$") as error:
        make()
    assert entry.is_user_error(error.value)  # the command ends with its one line
    monkeypatch.setattr(pipeline, "_worker_tokenizer", None)  # a bug keeps its type and traceback
    with pytest.raises(AttributeError):
        make()


def test_truncation_lengths_match_googles_loop():
    a, b = np.meshgrid(np.arange(40), np.arange(40))
    keep_a, keep_b = truncation_lengths(a.ravel(), b.ravel(), 25)
    for x, y, kx, ky in zip(a.ravel(), b.ravel(), keep_a, keep_b):
        while x + y > 25:
            x, y = (x - 1, y) if x > y else (x, y - 1)
        assert (kx, ky) == (x, y)


def _google_pairs(sentence_lengths, max_num_tokens, short_seq_prob, rng):
    """Google's `create_instances_from_document` loop, transcribed, on sentence lengths:
    (tokens of A, tokens of B, is random next) for every pair of every document."""
    pairs = []
    for index, document in enumerate(sentence_lengths):
        target = rng.randint(2, max_num_tokens) if rng.random() < short_seq_prob else max_num_tokens
        chunk, i = [], 0
        while i < len(document):
            chunk.append(document[i])
            if i == len(document) - 1 or sum(chunk) >= target:
                a_end = rng.randint(1, len(chunk) - 1) if len(chunk) >= 2 else 1
                a = sum(chunk[:a_end])
                if len(chunk) == 1 or rng.random() < 0.5:
                    for _ in range(10):
                        other = rng.randint(0, len(sentence_lengths) - 1)
                        if other != index:
                            break
                    b = 0
                    for length in sentence_lengths[other][rng.randint(0, len(sentence_lengths[other]) - 1):]:
                        b += length
                        if b >= target - a:
                            break
                    pairs.append((a, b, True))
                    i -= len(chunk) - a_end
                else:
                    pairs.append((a, sum(chunk[a_end:]), False))
                chunk = []
            i += 1
    return np.array(pairs)


@pytest.mark.parametrize("short_seq_prob", [0.1, 0.7])
def test_chunking_draws_googles_pairs(tokenizer, documents, short_seq_prob):
    """Chunking, done for all documents at once, gives the segment pairs of Google's
    per-sentence loop in distribution: pairs per document, lengths of A and B, random B."""
    tokenized = pipeline.tokenize_documents(tokenizer, documents)
    bounds, first = tokenized.bounds, tokenized.first_bound
    sentence_lengths = [np.diff(bounds[first[d]:first[d + 1]]).tolist() for d in range(len(tokenized))]
    options = InstanceOptions(max_seq_length=SEQ, short_seq_prob=short_seq_prob)
    maker = InstanceMaker(tokenizer.vocab, options, seed=3)
    passes = 40
    ours = np.concatenate([np.stack([p.first_end - p.first_start, p.second_end - p.second_start,
                                     p.is_random_next], axis=1)
                           for p in (maker._pairs(tokenized) for _ in range(passes))])
    rng = random.Random(3)
    google = np.concatenate([_google_pairs(sentence_lengths, SEQ - 3, short_seq_prob, rng)
                             for _ in range(passes)])
    assert abs(len(ours) - len(google)) < 0.02 * len(google)
    for column in range(3):  # A's tokens, B's tokens, random-next share
        a, b = ours[:, column].astype(float), google[:, column].astype(float)
        standard_error = np.sqrt(a.var() / len(a) + b.var() / len(b))
        assert abs(a.mean() - b.mean()) < 4 * standard_error, column
        np.testing.assert_allclose(np.percentile(a, [10, 25, 50, 75, 90]),
                                   np.percentile(b, [10, 25, 50, 75, 90]), rtol=0.1, atol=2)


def test_google_reader_spec_reads_our_files(made, tmp_path):
    _, inst = made
    path = str(tmp_path / "data.tfrecord")
    with pipeline.RoundRobinWriter([path]) as writer:
        writer.write(pipeline.serialize(inst.take(np.arange(50))))
    # The exact spec of google-research/bert run_pretraining.py's input_fn_builder.
    google_spec = {
        "input_ids": tf.io.FixedLenFeature([SEQ], tf.int64),
        "input_mask": tf.io.FixedLenFeature([SEQ], tf.int64),
        "segment_ids": tf.io.FixedLenFeature([SEQ], tf.int64),
        "masked_lm_positions": tf.io.FixedLenFeature([PRED], tf.int64),
        "masked_lm_ids": tf.io.FixedLenFeature([PRED], tf.int64),
        "masked_lm_weights": tf.io.FixedLenFeature([PRED], tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }
    records = list(tf.data.TFRecordDataset(path).batch(50))[0]
    google = tf.io.parse_example(records, google_spec)
    ours = parse_examples(records, SEQ, PRED)
    assert ours["input_ids"].dtype == tf.int32 and ours["masked_lm_weights"].dtype == tf.float32
    np.testing.assert_array_equal(google["input_ids"], inst.input_ids[:50])
    np.testing.assert_array_equal(ours["masked_lm_positions"], inst.masked_lm_positions[:50])
    np.testing.assert_array_equal(google["next_sentence_labels"][:, 0], inst.next_sentence_labels[:50])


def test_command_line_writes_round_robin_files_and_summary(tmp_path):
    corpus = shared_file("corpus", "bioasq_abstracts.txt")
    small = tmp_path / "small.txt"
    small.write_text("".join(open(corpus, encoding="utf-8").readlines()[:30]), encoding="utf-8")
    outputs = [str(tmp_path / "out-0.tfrecord"), str(tmp_path / "out-1.tfrecord")]
    result = subprocess.run(
        [*python(), "-m", "tfrecords_tools.create_pretraining_data", f"--input_file={small}",
         f"--output_file={','.join(outputs)}", f"--vocab_file={resources.path(resources.DEMO_VOCAB)}",
         "--do_lower_case=false", "--dupe_factor=2", "--max_seq_length=64",
         "--max_predictions_per_seq=10", "--noprogress", "--num_workers=1"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "read: 30 documents" in result.stdout
    counts = [sum(1 for _ in tf.data.TFRecordDataset(p)) for p in outputs]
    assert abs(counts[0] - counts[1]) <= 1 and sum(counts) > 100
    assert f"{sum(counts)} instances" in result.stdout


def test_command_line_mixing_and_subdomain_filter(tmp_path):
    lines = open(shared_file("corpus", "bioasq_abstracts.txt"), encoding="utf-8").readlines()
    (tmp_path / "big.txt").write_text("".join(lines[:40]), encoding="utf-8")
    (tmp_path / "small.txt").write_text("".join(lines[40:50]), encoding="utf-8")
    gene_docs = sum("gene" in line for line in lines[:50])
    args = [*python(), "-m", "tfrecords_tools.create_pretraining_data",
            f"--vocab_file={resources.path(resources.DEMO_VOCAB)}", "--do_lower_case=false",
            "--dupe_factor=1", "--noprogress", "--num_workers=1",
            f"--output_file={tmp_path}/out.tfrecord"]
    mixed = subprocess.run(args + [f"--input_file={tmp_path}/big.txt:0.5,{tmp_path}/small.txt:0.5"],
                           capture_output=True, text=True, timeout=300)
    assert mixed.returncode == 0, mixed.stderr[-2000:]
    # Equal shares: the small corpus is read again until the big one is read through.
    read = int(mixed.stdout.split("read: ")[1].split()[0])
    assert read >= 60
    # Another command into the same output file: replacing it must be asked for.
    filtered = subprocess.run(args + [f"--input_file={tmp_path}/big.txt,{tmp_path}/small.txt",
                                      r"--filter_pattern=\bgene\b", "--overwrite"],
                              capture_output=True, text=True, timeout=300)
    assert filtered.returncode == 0, filtered.stderr[-2000:]
    wrote = int(filtered.stdout.split("wrote: ")[1].split()[0])
    assert 0 < wrote <= gene_docs < 50


def test_appending_without_copy_file_range_survives_short_writes(tmp_path, monkeypatch):
    source, target = tmp_path / "chunk.tfrecord", tmp_path / "shard.tfrecord"
    data = random.Random(0).randbytes(1_500_000)  # two reads of 1 MiB
    source.write_bytes(data)
    target.write_bytes(b"head")

    class ShortWrites:  # an unbuffered file that takes at most 1000 bytes a call
        def __init__(self, raw):
            self.raw = raw

        def fileno(self):
            raise OSError("not a real file")  # copy_file_range cannot use it

        def write(self, view):
            return self.raw.write(view[:1000])

    with open(target, "ab", buffering=0) as raw:
        assert pipeline._append_file(str(source), ShortWrites(raw)) == len(data)
    assert target.read_bytes() == b"head" + data
