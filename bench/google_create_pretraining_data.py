"""Google BERT's `create_pretraining_data.py` algorithm in pure Python: the baseline of
`bench/pretraining_data.py`.

A re-implementation, step for step, of what google-research/bert's script (the one BioBERT
used) does, so its speed can be measured next to ours:

- read Google's text format (one sentence per line, a blank line between documents) line by
  line with `tf.io.gfile.GFile`, tokenizing each line with Google's Python tokenizer
  (`tests/reference_tokenizer.py`, Google's algorithm) into wordpiece strings;
- keep every document in memory, shuffle the documents, then run `dupe_factor` passes of
  `create_instances_from_document` over all of them, keep every instance in memory and
  shuffle them all (one `random.Random(random_seed)` for everything);
- write each instance as a `tf.train.Example` built from `tf.train.Feature`s, one by one,
  round-robin over the output files.

Not reproduced: the logging of the first 20 examples. Run as a script or call `main(args)`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import collections  # noqa: E402
import pathlib  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))

import reference_tokenizer  # noqa: E402


class TrainingInstance:
    """One sentence pair with its masked-LM predictions, as wordpiece strings."""

    def __init__(self, tokens, segment_ids, masked_lm_positions, masked_lm_labels, is_random_next):
        self.tokens = tokens
        self.segment_ids = segment_ids
        self.masked_lm_positions = masked_lm_positions
        self.masked_lm_labels = masked_lm_labels
        self.is_random_next = is_random_next


MaskedLmInstance = collections.namedtuple("MaskedLmInstance", ["index", "label"])


def create_training_instances(input_files, tokenizer, max_seq_length, dupe_factor, short_seq_prob,
                              masked_lm_prob, max_predictions_per_seq, do_whole_word_mask, rng):
    """All documents in memory → all instances in memory, globally shuffled."""
    all_documents = [[]]
    for input_file in input_files:
        with tf.io.gfile.GFile(input_file, "r") as reader:
            while True:
                line = reader.readline()
                if not line:
                    break
                line = line.strip()
                if not line:  # a blank line starts the next document
                    all_documents.append([])
                tokens = tokenizer.tokenize(line)
                if tokens:
                    all_documents[-1].append(tokens)
    all_documents = [document for document in all_documents if document]
    rng.shuffle(all_documents)

    vocab_words = list(tokenizer.vocab.keys())
    instances = []
    for _ in range(dupe_factor):
        for document_index in range(len(all_documents)):
            instances.extend(create_instances_from_document(
                all_documents, document_index, max_seq_length, short_seq_prob, masked_lm_prob,
                max_predictions_per_seq, do_whole_word_mask, vocab_words, rng))
    rng.shuffle(instances)
    return len(all_documents), instances


def create_instances_from_document(all_documents, document_index, max_seq_length, short_seq_prob,
                                   masked_lm_prob, max_predictions_per_seq, do_whole_word_mask,
                                   vocab_words, rng):
    """Sentence pairs of one document: chunks of about `target_seq_length` tokens, segment B
    the rest of the chunk or (half the time) text from a random other document."""
    document = all_documents[document_index]
    max_num_tokens = max_seq_length - 3  # [CLS], [SEP], [SEP]
    target_seq_length = max_num_tokens
    if rng.random() < short_seq_prob:
        target_seq_length = rng.randint(2, max_num_tokens)

    instances = []
    current_chunk, current_length = [], 0
    i = 0
    while i < len(document):
        current_chunk.append(document[i])
        current_length += len(document[i])
        if i == len(document) - 1 or current_length >= target_seq_length:
            if current_chunk:
                a_end = rng.randint(1, len(current_chunk) - 1) if len(current_chunk) >= 2 else 1
                tokens_a = [token for segment in current_chunk[:a_end] for token in segment]
                tokens_b = []
                if len(current_chunk) == 1 or rng.random() < 0.5:
                    is_random_next = True
                    target_b_length = target_seq_length - len(tokens_a)
                    for _ in range(10):
                        random_document_index = rng.randint(0, len(all_documents) - 1)
                        if random_document_index != document_index:
                            break
                    random_document = all_documents[random_document_index]
                    random_start = rng.randint(0, len(random_document) - 1)
                    for j in range(random_start, len(random_document)):
                        tokens_b.extend(random_document[j])
                        if len(tokens_b) >= target_b_length:
                            break
                    i -= len(current_chunk) - a_end  # put the unused segments back
                else:
                    is_random_next = False
                    for j in range(a_end, len(current_chunk)):
                        tokens_b.extend(current_chunk[j])
                truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng)
                assert len(tokens_a) >= 1 and len(tokens_b) >= 1

                tokens = ["[CLS]"] + tokens_a + ["[SEP]"] + tokens_b + ["[SEP]"]
                segment_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
                tokens, masked_lm_positions, masked_lm_labels = create_masked_lm_predictions(
                    tokens, masked_lm_prob, max_predictions_per_seq, do_whole_word_mask,
                    vocab_words, rng)
                instances.append(TrainingInstance(tokens, segment_ids, masked_lm_positions,
                                                  masked_lm_labels, is_random_next))
            current_chunk, current_length = [], 0
        i += 1
    return instances


def create_masked_lm_predictions(tokens, masked_lm_prob, max_predictions_per_seq,
                                 do_whole_word_mask, vocab_words, rng):
    """Picks tokens (or whole words) in random order and masks them 80/10/10."""
    cand_indexes = []
    for i, token in enumerate(tokens):
        if token in ("[CLS]", "[SEP]"):
            continue
        if do_whole_word_mask and cand_indexes and token.startswith("##"):
            cand_indexes[-1].append(i)
        else:
            cand_indexes.append([i])
    rng.shuffle(cand_indexes)

    output_tokens = list(tokens)
    num_to_predict = min(max_predictions_per_seq,
                         max(1, int(round(len(tokens) * masked_lm_prob))))
    masked_lms = []
    covered_indexes = set()
    for index_set in cand_indexes:
        if len(masked_lms) >= num_to_predict:
            break
        if len(masked_lms) + len(index_set) > num_to_predict:
            continue  # the whole word would overflow the budget
        if any(index in covered_indexes for index in index_set):
            continue
        for index in index_set:
            covered_indexes.add(index)
            if rng.random() < 0.8:
                masked_token = "[MASK]"
            elif rng.random() < 0.5:
                masked_token = tokens[index]
            else:
                masked_token = vocab_words[rng.randint(0, len(vocab_words) - 1)]
            output_tokens[index] = masked_token
            masked_lms.append(MaskedLmInstance(index=index, label=tokens[index]))
    assert len(masked_lms) <= num_to_predict
    masked_lms.sort(key=lambda m: m.index)
    return (output_tokens, [m.index for m in masked_lms], [m.label for m in masked_lms])


def truncate_seq_pair(tokens_a, tokens_b, max_num_tokens, rng):
    """Removes one token at a time from the longer segment, front or back at random."""
    while len(tokens_a) + len(tokens_b) > max_num_tokens:
        trunc_tokens = tokens_a if len(tokens_a) > len(tokens_b) else tokens_b
        assert len(trunc_tokens) >= 1
        if rng.random() < 0.5:
            del trunc_tokens[0]
        else:
            trunc_tokens.pop()


def write_instance_to_example_files(instances, tokenizer, max_seq_length, max_predictions_per_seq,
                                    output_files):
    """One `tf.train.Example` per instance, padded to fixed lengths, round-robin over files."""
    writers = [tf.io.TFRecordWriter(path) for path in output_files]
    writer_index = 0
    for instance in instances:
        input_ids = tokenizer.convert_tokens_to_ids(instance.tokens)
        input_mask = [1] * len(input_ids)
        segment_ids = list(instance.segment_ids)
        assert len(input_ids) <= max_seq_length
        while len(input_ids) < max_seq_length:
            input_ids.append(0)
            input_mask.append(0)
            segment_ids.append(0)
        masked_lm_positions = list(instance.masked_lm_positions)
        masked_lm_ids = tokenizer.convert_tokens_to_ids(instance.masked_lm_labels)
        masked_lm_weights = [1.0] * len(masked_lm_ids)
        while len(masked_lm_positions) < max_predictions_per_seq:
            masked_lm_positions.append(0)
            masked_lm_ids.append(0)
            masked_lm_weights.append(0.0)

        features = collections.OrderedDict()
        features["input_ids"] = create_int_feature(input_ids)
        features["input_mask"] = create_int_feature(input_mask)
        features["segment_ids"] = create_int_feature(segment_ids)
        features["masked_lm_positions"] = create_int_feature(masked_lm_positions)
        features["masked_lm_ids"] = create_int_feature(masked_lm_ids)
        features["masked_lm_weights"] = create_float_feature(masked_lm_weights)
        features["next_sentence_labels"] = create_int_feature([1 if instance.is_random_next else 0])
        example = tf.train.Example(features=tf.train.Features(feature=features))
        writers[writer_index].write(example.SerializeToString())
        writer_index = (writer_index + 1) % len(writers)
    for writer in writers:
        writer.close()
    return len(instances)


def create_int_feature(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def create_float_feature(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input_file", required=True, help="comma list, Google's text format")
    parser.add_argument("--output_file", required=True, help="comma list of TFRecord files")
    parser.add_argument("--vocab_file", required=True)
    parser.add_argument("--do_lower_case", type=lambda s: s.lower() in ("1", "true"), default=True)
    parser.add_argument("--do_whole_word_mask", type=lambda s: s.lower() in ("1", "true"),
                        default=False)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--max_predictions_per_seq", type=int, default=20)
    parser.add_argument("--random_seed", type=int, default=12345)
    parser.add_argument("--dupe_factor", type=int, default=10)
    parser.add_argument("--masked_lm_prob", type=float, default=0.15)
    parser.add_argument("--short_seq_prob", type=float, default=0.1)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    tokenizer = reference_tokenizer.ReferenceTokenizer(
        reference_tokenizer.load_vocab(args.vocab_file), args.do_lower_case)
    rng = random.Random(args.random_seed)
    num_documents, instances = create_training_instances(
        args.input_file.split(","), tokenizer, args.max_seq_length, args.dupe_factor,
        args.short_seq_prob, args.masked_lm_prob, args.max_predictions_per_seq,
        args.do_whole_word_mask, rng)
    made = time.perf_counter()
    write_instance_to_example_files(instances, tokenizer, args.max_seq_length,
                                    args.max_predictions_per_seq, args.output_file.split(","))
    seconds = time.perf_counter() - start
    print(f"google-style: {num_documents} documents, {len(instances)} instances in "
          f"{seconds:.1f} s (read+tokenize+instances {made - start:.1f} s, "
          f"write {seconds - (made - start):.1f} s)")


if __name__ == "__main__":
    main()
