"""Continue BERT pretraining (MLM + NSP) on TPU, GPUs or CPU: Google BERT's flags.

    python run_pretraining.py --input_file='data/pubmed-*.tfrecord' --output_dir=out \
        --bert_config_file=biobert/bert_config.json --init_checkpoint=biobert/model.ckpt-1000000 \
        --do_train --do_eval --train_batch_size=192 --max_seq_length=128 \
        --num_train_steps=200000 --num_warmup_steps=10000 --learning_rate=5e-5 \
        [--use_tpu --tpu_name=...] [--distribution_strategy=mirrored] [--mixed_precision=bfloat16]

Re-running the same command resumes from the newest checkpoint in `--output_dir`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from biobert_tf.bert import checkpoints  # noqa: E402
from biobert_tf.engine import cli  # noqa: E402
from biobert_tf.pretraining import data as pretraining_data  # noqa: E402
from biobert_tf.engine import training  # noqa: E402
from biobert_tf.bert.config import BertConfig  # noqa: E402
from biobert_tf.bert.modeling import BertEncoder, BertPretrainer  # noqa: E402
from biobert_tf.engine.optimization import create_optimizer  # noqa: E402
from biobert_tf.pretraining.task import PretrainingTask  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("bert_config_file", None, "bert_config.json of the model (default: beside "
                    "--init_checkpoint).")
flags.DEFINE_string("input_file", None, "Input TF example files (globs, comma-separated).")
flags.DEFINE_string("eval_input_file", None, "Evaluation files (default: --input_file).")
flags.DEFINE_string("output_dir", None, "Where checkpoints, summaries and results go.")
flags.DEFINE_string("init_checkpoint", None, "Initial checkpoint: a TF1 prefix (Google BERT, "
                    "BioBERT), an HF directory or a keras-hub preset.")
flags.DEFINE_string("vocab_file", None, "vocab.txt written beside the exported model (default: "
                    "beside --init_checkpoint).")
flags.DEFINE_integer("max_seq_length", 128, "Maximum total input sequence length.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Maximum number of masked LM predictions.")
flags.DEFINE_bool("do_train", False, "Whether to run training.")
flags.DEFINE_bool("do_eval", False, "Whether to run eval on the dev set.")
flags.DEFINE_integer("train_batch_size", 32, "Total (global) batch size for training.")
flags.DEFINE_integer("eval_batch_size", 8, "Total (global) batch size for eval.")
flags.DEFINE_float("learning_rate", 5e-5, "The initial learning rate for Adam.")
flags.DEFINE_integer("num_train_steps", 100000, "Number of training steps.")
flags.DEFINE_integer("num_warmup_steps", 10000, "Number of warmup steps.")
flags.DEFINE_integer("save_checkpoints_steps", 1000, "How often to save the model checkpoint.")
flags.DEFINE_integer("iterations_per_loop", 1000, "Steps per host call (also the log interval).")
flags.DEFINE_integer("max_eval_steps", 100, "Maximum number of eval steps.")
flags.DEFINE_integer("keep_checkpoint_max", 5, "Checkpoints kept in --output_dir.")
flags.DEFINE_integer("seed", 12345, "Seed of weight init and data shuffling.")
cli.define_runtime_flags()

def main(argv):
    del argv
    if not (FLAGS.do_train or FLAGS.do_eval):
        raise app.UsageError("at least one of --do_train or --do_eval must be set")
    strategy = cli.strategy_from_flags(FLAGS)

    init = checkpoints.read_checkpoint(FLAGS.init_checkpoint, FLAGS.bert_config_file) \
        if FLAGS.init_checkpoint else None
    if FLAGS.bert_config_file:
        config = BertConfig.from_json_file(FLAGS.bert_config_file)
    elif init:
        config = init.config
    else:
        raise app.UsageError("--bert_config_file or --init_checkpoint is required")
    vocab_file = FLAGS.vocab_file or (init.vocab_file if init else None)

    with strategy.scope():
        model = BertPretrainer(BertEncoder.from_bert_config(config))
        optimizer = create_optimizer(FLAGS.learning_rate, FLAGS.num_train_steps,
                                     FLAGS.num_warmup_steps, aggregate_gradients=False)
        if FLAGS.mixed_precision == "float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    trainer = training.Trainer(
        strategy, PretrainingTask(model), optimizer,
        training.LoopConfig(FLAGS.output_dir, FLAGS.num_train_steps, FLAGS.iterations_per_loop,
                            FLAGS.save_checkpoints_steps, FLAGS.keep_checkpoint_max,
                            FLAGS.train_batch_size, FLAGS.jit_compile))

    def dataset(context, batch_size, input_file, is_training, start_step=0):
        return pretraining_data.make_dataset(
            input_file, context.get_per_replica_batch_size(batch_size), FLAGS.max_seq_length,
            FLAGS.max_predictions_per_seq, is_training, FLAGS.seed, context, start_step)

    if FLAGS.do_train:
        initialize = (lambda: checkpoints.restore_pretraining_weights(model, init)) if init else None
        step = trainer.fit(lambda context, start_step: dataset(
            context, FLAGS.train_batch_size, FLAGS.input_file, True, start_step), initialize)
        if training.is_chief(strategy):
            exported = checkpoints.export(model, os.path.join(FLAGS.output_dir, "tf1"), "tf1",
                                          vocab_file, checkpoint_name=f"model.ckpt-{step}")
            logging.info("exported step %d in Google's TF1 layout: %s", step, exported)
    if FLAGS.do_eval:
        latest = tf.train.latest_checkpoint(FLAGS.output_dir)
        if not FLAGS.do_train and latest:
            tf.train.Checkpoint(model=model).restore(latest).expect_partial()
        elif not FLAGS.do_train and init:
            checkpoints.restore_pretraining_weights(model, init)
        results = trainer.evaluate(lambda context: dataset(
            context, FLAGS.eval_batch_size, FLAGS.eval_input_file or FLAGS.input_file, False),
            FLAGS.max_eval_steps)
        if training.is_chief(strategy):
            training.write_results(os.path.join(FLAGS.output_dir, "eval_results.txt"), results)


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_dir"])
    cli.run(main)
