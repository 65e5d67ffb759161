"""Fine-tune BERT for biomedical relation extraction: BioBERT's run_re.py flags.

    python run_re.py --task_name=gad --do_train --do_predict --data_dir=GAD/1 \
        --vocab_file=biobert/vocab.txt --bert_config_file=biobert/bert_config.json \
        --init_checkpoint=biobert/model.ckpt-1000000 --do_lower_case=false \
        --max_seq_length=128 --num_train_epochs=3 --output_dir=out [--head=sll_att]
    python run_re.py --task_name=gad --cross_validation_folds=10 --data_dir=GAD ...
    python run_re.py --task_name=chemprot_scibert --entity_mode=markers --do_train \
        --do_eval --do_predict --data_dir=ChemProt --early_stopping_patience=2 ...
    python run_re.py --output_dir=out --predict_text="@GENE$ variants raise @DISEASE$ risk."

Training reads train.tsv (train.jsonl for jsonl data), --do_eval scores dev, --do_predict
scores test (test_results.tsv as BioBERT, test_results.txt, test_metrics.json,
predictions.jsonl). Re-running the same command resumes from the newest checkpoint.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402

from absl import app, flags, logging  # noqa: E402

from biobert_tf.engine import cli  # noqa: E402
from biobert_tf.tasks.relation import data as re_data  # noqa: E402
from biobert_tf.tasks.relation import inputs as re_inputs  # noqa: E402
from biobert_tf.tasks.relation import model as re_model  # noqa: E402
from biobert_tf.tasks.relation import task as re_pipeline  # noqa: E402

FLAGS = flags.FLAGS
cli.define_finetuning_flags()
flags.DEFINE_string("task_name", None, "BioBERT's task: " + ", ".join(re_data.TASK_FORMATS) +
                    " (sets the data format; any other data: --data_format).")
flags.DEFINE_enum("data_format", "auto", ["auto", *re_data.FORMATS],
                  "biobert_tsv (@GENE$ placeholders), scibert_jsonl (<< >> [[ ]] markers) or "
                  "jsonl (character spans); auto: from --task_name, else from each file.")
flags.DEFINE_enum("entity_mode", "auto", ["auto", *re_inputs.ENTITY_MODES],
                  "blind: entities as @NAME$ placeholders (BioBERT); markers: wrapped in "
                  "[E1] [/E1] [E2] [/E2], reserved [unusedN] tokens; auto: as the data has them.")
flags.DEFINE_enum("head", "cls", list(re_model.HEADS), "The classifier input: cls (BioBERT), "
                  "entity_start, mean_pool, max_pool, sll_att (Su & Vijay-Shanker), lstm, bilstm.")
flags.DEFINE_integer("lstm_units", 128, "Units of the lstm/bilstm heads (per direction).")
flags.DEFINE_list("placeholders", list(re_data.DEFAULT_PLACEHOLDERS),
                  "Placeholders for e1,e2 when blinding data that names its entities.")
flags.DEFINE_string("train_file", None, "Training file in --data_dir (default train.tsv or "
                    "train.jsonl).")
flags.DEFINE_string("dev_file", None, "Dev file in --data_dir (default dev.tsv or dev.jsonl).")
flags.DEFINE_string("test_file", None, "Test file in --data_dir (default test.tsv or "
                    "test.jsonl).")
flags.DEFINE_integer("cross_validation_folds", 0, "Train and score --data_dir/1..N (BioBERT's "
                     "GAD/EU-ADR folds) and report each score's mean ± std over the folds.")
flags.DEFINE_string("predict_text", None, "A sentence (with markers or placeholders) to "
                    "classify: prints the label probabilities.")
flags.DEFINE_string("predict_file", None, "A file of such sentences, one per line, streamed "
                    "with progress into <output_dir>/file_predictions.jsonl; resumable.")


def main(argv):
    del argv
    if not FLAGS.output_dir:
        raise app.UsageError("--output_dir is required")
    if not (FLAGS.do_train or FLAGS.do_eval or FLAGS.do_predict or FLAGS.predict_text
            or FLAGS.predict_file or FLAGS.export_dir or FLAGS.cross_validation_folds):
        raise app.UsageError("nothing to do: set --do_train, --do_eval, --do_predict, "
                             "--cross_validation_folds, --predict_text, --predict_file or "
                             "--export_dir")
    if len(FLAGS.placeholders) != 2:
        raise app.UsageError(f"--placeholders needs two values, got {FLAGS.placeholders}")
    run = re_pipeline.RelationRun.from_flags(FLAGS, data_dir=FLAGS.data_dir or "",
                                             placeholders=tuple(FLAGS.placeholders))
    strategy = cli.strategy_from_flags(FLAGS)
    if FLAGS.cross_validation_folds:
        re_pipeline.cross_validate(run, strategy, FLAGS.cross_validation_folds)
        return
    runner = re_pipeline.RelationRunner(run, strategy)
    if FLAGS.do_train or FLAGS.do_eval or FLAGS.do_predict:
        re_pipeline.run_phases(runner, FLAGS.do_eval, FLAGS.do_predict)
    else:
        runner.restore()
    if not re_pipeline.training.is_chief(strategy):
        return
    if FLAGS.export_dir:
        runner.export(FLAGS.export_dir)
    if FLAGS.predict_text:
        [result] = re_pipeline.classify(runner.classifier(), [FLAGS.predict_text])
        print(json.dumps(result, ensure_ascii=False, indent=1))
    if FLAGS.predict_file:
        path = os.path.join(FLAGS.output_dir, "file_predictions.jsonl")
        count = re_pipeline.classify_file(runner.classifier(), FLAGS.predict_file, path,
                                          FLAGS.predict_batch_size)
        logging.info("classified %d sentences into %s", count, path)


if __name__ == "__main__":
    cli.run(main)
