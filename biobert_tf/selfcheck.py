"""Installation self-check: build a BERT from a shipped config, tokenize, run one forward pass.

    python -m biobert_tf.selfcheck [--bert_config_file=...] [--vocab_file=...] [--text=...]

Prints the architecture and parameter count, every wordpiece of a biomedical
sentence with its character offsets and word id, and the encoder's output shapes.
"""

import time

from absl import flags

from biobert_tf import resources
from biobert_tf.engine import entry

FLAGS = flags.FLAGS
flags.DEFINE_string("bert_config_file", resources.path(resources.BIOBERT_BASE_CONFIG),
                    "Google-format bert_config.json (default: BioBERT v1.1 base, shipped).")
flags.DEFINE_string("vocab_file", resources.path(resources.DEMO_VOCAB),
                    "vocab.txt (default: the shipped cased demo vocabulary).")
flags.DEFINE_bool("do_lower_case", False, "Lowercase and strip accents (uncased models).")
flags.DEFINE_string("text", "Mutations in BRCA1 (e.g. c.68_69delAG) raise the risk of "
                    "breast cancer; IL-2 levels rose (p < 0.05).", "Sentence to tokenize.")
flags.DEFINE_integer("max_seq_length", 64, "Sequence length of the forward pass.")


def main(argv):
    del argv
    import tensorflow as tf

    from biobert_tf.bert.config import BertConfig
    from biobert_tf.bert.modeling import BertEncoder
    from biobert_tf.bert.tokenization import BertTokenizer

    config = BertConfig.from_json_file(FLAGS.bert_config_file)
    start = time.perf_counter()
    encoder = BertEncoder.from_bert_config(config)
    print(f"model: {config.num_hidden_layers} layers, hidden {config.hidden_size}, "
          f"{config.num_attention_heads} heads, vocab {config.vocab_size}, "
          f"{encoder.count_params():,} parameters (built in {time.perf_counter() - start:.1f} s)")

    tokenizer = BertTokenizer(FLAGS.vocab_file, FLAGS.do_lower_case)
    if tokenizer.vocab_size > config.vocab_size:
        raise ValueError(f"{FLAGS.vocab_file} has {tokenizer.vocab_size} tokens, more than "
                             f"the model's vocab_size {config.vocab_size}")
    pieces = tokenizer.tokenize(tf.constant([FLAGS.text]))
    print(f"text: {FLAGS.text}")
    print(f"{'piece':>16} {'id':>6} {'start':>5} {'end':>5} {'word':>4}  text[start:end]")
    for token_id, begin, end, word in zip(*(getattr(pieces, k)[0].numpy() for k in (
            "token_ids", "start_offsets", "end_offsets", "word_ids"))):
        print(f"{tokenizer.vocab[token_id]:>16} {token_id:>6} {begin:>5} {end:>5} {word:>4}  "
              f"{FLAGS.text[begin:end]}")

    packed = tokenizer.pack(pieces, seq_length=FLAGS.max_seq_length)
    start = time.perf_counter()
    outputs = encoder({k: packed[k] for k in ("token_ids", "segment_ids", "padding_mask")})
    print(f"forward pass ({time.perf_counter() - start:.2f} s): "
          f"sequence_output {tuple(outputs['sequence_output'].shape)}, "
          f"pooled_output {tuple(outputs['pooled_output'].shape)}, "
          f"truncated tokens {int(packed['num_truncated'][0])}")
    print("self-check OK")


def run():
    entry.quiet_tensorflow()
    entry.run(main)


if __name__ == "__main__":
    run()
