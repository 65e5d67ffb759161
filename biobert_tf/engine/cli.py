"""absl flags shared by the run_*.py scripts: BioBERT's fine-tuning names and defaults, and
the TPU / distribution / precision flags every script has. Defined once here so the scripts
cannot drift apart."""

import sys
from typing import Callable

import keras
import tensorflow as tf
from absl import app, flags, logging

from biobert_tf.engine import distribute


def define_finetuning_flags() -> None:
    """BioBERT's fine-tuning flags (run_ner/run_re/run_qa) and ours."""
    f = flags
    f.DEFINE_string("data_dir", None, "Directory with the task's train/dev/test files.")
    f.DEFINE_string("output_dir", None, "Where checkpoints, results and predictions go.")
    f.DEFINE_string("bert_config_file", None,
                    "bert_config.json (default: the config beside --init_checkpoint).")
    f.DEFINE_string("vocab_file", None, "vocab.txt (default: the one beside --init_checkpoint).")
    f.DEFINE_string("init_checkpoint", None, "A Google/BioBERT TF1 checkpoint prefix, a "
                    "HuggingFace directory or a keras-hub preset directory.")
    f.DEFINE_bool("do_lower_case", True, "Lower-case the input (False for cased models "
                  "such as BioBERT).")
    f.DEFINE_integer("max_seq_length", 128, "Wordpieces per model window, [CLS]/[SEP] included.")
    f.DEFINE_bool("do_eval", False, "Evaluate on the dev set.")
    f.DEFINE_bool("do_predict", False, "Predict (and score) the test set.")
    f.DEFINE_integer("predict_batch_size", 8, "Global prediction batch size.")
    define_training_flags()
    f.DEFINE_integer("early_stopping_patience", 0, "With a dev file: evaluate after every epoch, "
                     "keep the best epoch's weights and stop after this many epochs without "
                     "a dev gain (0: no per-epoch evaluation).")
    f.DEFINE_string("export_dir", None, "Also write a SavedModel that takes raw text here.")


def define_training_flags() -> None:
    """The shared loop's flags (BioBERT's names and defaults; a script may change defaults
    with FLAGS.set_default) and the runtime flags."""
    f = flags
    f.DEFINE_bool("do_train", False, "Train.")
    f.DEFINE_integer("train_batch_size", 32, "Global training batch size.")
    f.DEFINE_integer("eval_batch_size", 8, "Global evaluation batch size.")
    f.DEFINE_float("learning_rate", 5e-5, "Peak learning rate of Adam (with weight decay).")
    f.DEFINE_float("num_train_epochs", 3.0, "Training epochs (rounded up to whole epochs).")
    f.DEFINE_float("warmup_proportion", 0.1, "Share of the steps with linear learning-rate warmup.")
    f.DEFINE_integer("save_checkpoints_steps", 1000, "Steps between checkpoints.")
    f.DEFINE_integer("iterations_per_loop", 1000, "Steps per host call (also the log interval).")
    f.DEFINE_integer("keep_checkpoint_max", 2, "Checkpoints kept in --output_dir.")
    f.DEFINE_integer("seed", 42, "Seed of the model's init, dropout and data order.")
    define_runtime_flags()


def define_runtime_flags() -> None:
    """Where and how to run: Google's TPU flags, our strategy, precision and XLA flags."""
    f = flags
    f.DEFINE_bool("use_tpu", False, "Use a TPU (as --distribution_strategy=tpu).")
    f.DEFINE_string("tpu_name", None, "The Cloud TPU to use.")
    f.DEFINE_string("tpu_zone", None, "GCE zone of the Cloud TPU.")
    f.DEFINE_string("gcp_project", None, "Project of the Cloud TPU.")
    f.DEFINE_string("master", None, "TensorFlow master URL (a TPU address; as --tpu_name).")
    f.DEFINE_integer("num_tpu_cores", 8, "Only for Google/BioBERT-flag compatibility: the TPU "
                     "strategy uses every core of its TPU.")
    f.DEFINE_enum("distribution_strategy", "default", list(distribute.STRATEGIES),
                  "default, one_device, mirrored (local GPUs), multi_worker_mirrored (hosts in "
                  "TF_CONFIG) or tpu.")
    f.DEFINE_enum("mixed_precision", "none", list(distribute.PRECISIONS),
                  "bfloat16 (TPU, recent CPUs) or float16 (GPUs, with loss scaling).")
    f.DEFINE_bool("jit_compile", False, "XLA-compile the forward and backward pass (one replica; "
                  "TPUs always compile).")


def define_bilstm_flags() -> None:
    """The BiLSTM architecture (Sachan et al.), shared by run_ner.py --model=bilstm_crf and
    `python -m biobert_tf.tasks.ner.bilstm.bilm`; a tagger initialised from a BiLM takes the BiLM's."""
    f = flags
    f.DEFINE_integer("word_embedding_dim", 100, "Word embedding size.")
    f.DEFINE_integer("char_embedding_dim", 25, "Character embedding size.")
    f.DEFINE_integer("char_filters", 50, "Filters of the character CNN.")
    f.DEFINE_integer("lstm_units", 128, "LSTM units per direction.")
    f.DEFINE_integer("bilstm_layers", 1, "LSTM layers per direction (1 or 2).")
    f.DEFINE_float("bilstm_dropout", 0.5, "Dropout on the embeddings and between layers.")
    f.DEFINE_bool("lowercase_words", False, "Look words up lower-cased (characters keep their "
                  "case).")


def strategy_from_flags(values: flags.FlagValues) -> tf.distribute.Strategy:
    """The strategy (and precision policy and seed) the flags ask for."""
    keras.utils.set_random_seed(values.seed)
    strategy = distribute.create_strategy(
        "tpu" if values.use_tpu else values.distribution_strategy,
        tpu=values.tpu_name or values.master, tpu_zone=values.tpu_zone,
        gcp_project=values.gcp_project)
    distribute.set_mixed_precision(values.mixed_precision)
    return strategy


def run(main: Callable[[list[str]], None]) -> None:
    """`absl.app.run(main)`, with bad input (malformed files, wrong vocab or checkpoint, bad
    flag values: our ValueErrors and missing files) reported as one clear line, exit status 1,
    instead of a traceback."""
    def guarded(argv):
        try:
            main(argv)
        except (ValueError, FileNotFoundError) as e:
            logging.error("%s", e)
            print(f"{sys.argv[0]}: error: {e}", file=sys.stderr)
            sys.exit(1)
    app.run(guarded)
