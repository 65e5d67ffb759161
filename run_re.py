r"""Fine-tune BERT for biomedical relation extraction: BioBERT's run_re.py flags.

    python run_re.py --task_name=gad --do_train --do_predict --data_dir=GAD/1 \
        --vocab_file=biobert/vocab.txt --bert_config_file=biobert/bert_config.json \
        --init_checkpoint=biobert/model.ckpt-1000000 --do_lower_case=false \
        --max_seq_length=128 --num_train_epochs=3 --output_dir=out [--head=sll_att]
    python run_re.py --task_name=gad --cross_validation_folds=10 --data_dir=GAD ...
    python run_re.py --output_dir=out --predict_text="@GENE$ variants raise @DISEASE$ risk."

Training reads train.tsv (train.jsonl for jsonl data), --do_eval scores dev, --do_predict
scores test (test_results.tsv as BioBERT, test_results.txt, test_metrics.json,
predictions.jsonl). Re-running the same command resumes from the newest checkpoint.
"""

from biobert_tf.engine import entry

entry.quiet_tensorflow()

from biobert_tf.engine import driver, settings  # noqa: E402
from biobert_tf.tasks.relation.cross_validation import cross_validate  # noqa: E402
from biobert_tf.tasks.relation.task import RelationSettings, RelationTask  # noqa: E402

settings.define_flags(RelationSettings)


def main(argv):
    del argv
    run = driver.settings_from_flags(RelationTask, RelationSettings)
    if run.cross_validation_folds:
        cross_validate(run, driver.strategy_for(run, run.seed), run.cross_validation_folds)
    else:
        driver.main([RelationTask], RelationSettings)


if __name__ == "__main__":
    entry.run(main)
