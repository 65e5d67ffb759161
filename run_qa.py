"""Fine-tune BERT for biomedical question answering: BioBERT's run_qa.py flags.

    # SQuAD-format training (SQuAD, BioASQ-in-SQuAD), Google's predictions / n-best files:
    python run_qa.py --do_train --train_file=train-v1.1.json --do_predict \
        --predict_file=dev-v1.1.json --init_checkpoint=biobert/model.ckpt-1000000 \
        --vocab_file=biobert/vocab.txt --bert_config_file=biobert/bert_config.json \
        --do_lower_case=false --max_seq_length=384 --doc_stride=128 --output_dir=squad_out
    # BioASQ factoid from the SQuAD model, trained on golden files, scored on batch 5b-1:
    python run_qa.py --do_train --train_file=4B_golden.json --init_checkpoint=squad_out \
        --do_predict --predict_file=BioASQ-test-factoid-5b-1.json \
        --golden_file=5B1_golden.json --output_dir=bioasq_out
    # list (threshold tuned on a dev golden file) and yes/no questions:
    python run_qa.py --question_type=list --train_file=4B1_golden.json,... \
        --dev_file=4B5_golden.json --predict_file=5B1_golden.json ...
    python run_qa.py --question_type=yesno --train_file=4B_golden.json \
        --predict_file=5B1_golden.json ...

--do_predict writes predictions.json and nbest_predictions.json (span questions), and with a
BioASQ golden file BioASQform_BioASQ-answer.json and the BioASQ scores (qa_metrics.json,
eval_results.txt); a predict file with answers is also scored with SQuAD's EM/F1.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from biobert_tf.engine import cli  # noqa: E402
from biobert_tf.tasks.qa import task as qa_pipeline  # noqa: E402

FLAGS = flags.FLAGS
cli.define_finetuning_flags()
FLAGS.set_default("max_seq_length", 384)
flags.DEFINE_enum("question_type", "factoid", ["factoid", "list", "yesno"],
                  "factoid and list: the span model; yesno: a [CLS] classifier over "
                  "(question, snippet) pairs.")
flags.DEFINE_string("train_file", None, "SQuAD-format json or BioASQ golden json for training "
                    "(comma-separated for several).")
flags.DEFINE_string("predict_file", None, "SQuAD-format or BioASQ golden json to predict "
                    "(comma-separated for several).")
flags.DEFINE_string("golden_file", None, "BioASQ golden json to score the predictions with "
                    "(default: the predict file, when it is a golden file).")
flags.DEFINE_string("dev_file", None, "BioASQ golden json whose list questions tune "
                    "--list_threshold.")
flags.DEFINE_integer("doc_stride", 128, "Context pieces between the starts of two windows.")
flags.DEFINE_integer("max_query_length", 64, "Question pieces kept.")
flags.DEFINE_integer("n_best_size", 20, "Answers per question in nbest_predictions.json.")
flags.DEFINE_integer("max_answer_length", 30, "Longest answer, in pieces.")
flags.DEFINE_float("list_threshold", 0.5, "List answers: keep those with at least this share "
                   "of the best answer's merged probability (tuned when --dev_file is given).")


def main(argv):
    del argv
    if not FLAGS.output_dir:
        raise app.UsageError("--output_dir is required")
    if FLAGS.do_train and not FLAGS.train_file:
        raise app.UsageError("--do_train needs --train_file")
    if FLAGS.do_predict and not FLAGS.predict_file:
        raise app.UsageError("--do_predict needs --predict_file")
    if not (FLAGS.do_train or FLAGS.do_predict or FLAGS.export_dir):
        raise app.UsageError("nothing to do: set --do_train, --do_predict or --export_dir")
    run = qa_pipeline.QaRun.from_flags(FLAGS, data_dir=FLAGS.data_dir or "")
    scores = qa_pipeline.run(run, cli.strategy_from_flags(FLAGS), FLAGS.do_train,
                             FLAGS.do_predict, FLAGS.export_dir)
    for group, values in scores.items():
        print(group, " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in values.items()))


if __name__ == "__main__":
    cli.run(main)
