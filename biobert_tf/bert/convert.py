"""Convert BERT checkpoints between Google TF1, HuggingFace and keras-hub layouts.

    python -m biobert_tf.bert.convert --input=PATH --output=DIR --to=tf1|hf|keras

PATH is a TF1 checkpoint prefix (or its directory, with `bert_config.json`
beside it), an HF directory (`config.json` + `model.safetensors`) or a keras-hub
preset directory. MLM/NSP heads are carried over when the input has them. The
config and `vocab.txt` are written beside the converted weights. Every file appears in
DIR only once whole (other files there are kept, same names replaced).
"""

import os

from absl import app, flags

from biobert_tf import atomic_files
from biobert_tf.engine import entry

FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "Checkpoint to read (TF1 prefix/dir, HF dir, keras-hub preset).")
flags.DEFINE_string("output", None, "Directory to write.")
flags.DEFINE_enum("to", None, ["tf1", "hf", "keras"], "Output layout.")
flags.DEFINE_string("bert_config_file", None, "Config, if not beside a TF1 input.")
flags.DEFINE_string("vocab_file", None, "vocab.txt, if not beside the input.")
flags.DEFINE_bool("do_lower_case", None, "Tokenizer casing recorded in a keras-hub preset "
                  "(required with --to=keras and a vocab).")
flags.mark_flags_as_required(["input", "output", "to"])


def main(argv):
    del argv
    entry.quiet_tensorflow()  # imported here, not above: --help stays fast
    from biobert_tf.bert import checkpoints
    from biobert_tf.bert.modeling import BertEncoder, BertPretrainer

    checkpoint = checkpoints.read_checkpoint(FLAGS.input, FLAGS.bert_config_file)
    vocab_file = FLAGS.vocab_file or checkpoint.vocab_file
    if vocab_file:
        checkpoints.check_vocab(checkpoint.config, vocab_file)
    if FLAGS.to == "keras" and vocab_file and FLAGS.do_lower_case is None:
        raise app.UsageError("--to=keras saves a tokenizer: say --do_lower_case=true or false")
    encoder = BertEncoder.from_bert_config(checkpoint.config)
    has_heads = any(name.startswith("cls/") for name in checkpoint.weights)
    model = BertPretrainer(encoder) if has_heads and FLAGS.to != "keras" else encoder
    ignored = checkpoints.assign_weights(model, checkpoint.weights, checkpoint.source)
    with atomic_files.whole_files_into(FLAGS.output) as partial:
        written = checkpoints.export(model, partial, FLAGS.to, vocab_file,
                                     bool(FLAGS.do_lower_case))
    written = os.path.normpath(os.path.join(FLAGS.output, os.path.relpath(written, partial)))
    print(f"read {checkpoint.source}: {len(checkpoint.weights)} variables "
          f"({'with' if has_heads else 'without'} MLM/NSP heads)")
    if ignored:
        print(f"not converted (not part of BERT): {', '.join(ignored)}")
    if has_heads and FLAGS.to == "keras":
        print("note: keras-hub presets hold the encoder only; MLM/NSP heads were not written")
    print(f"wrote {written}" + (f" and {os.path.join(FLAGS.output, 'vocab.txt')}" if vocab_file
                                else " (no vocab.txt found; pass --vocab_file)"))


def run() -> None:
    entry.run(main)


if __name__ == "__main__":
    run()
