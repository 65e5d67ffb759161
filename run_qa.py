r"""Fine-tune BERT for biomedical question answering: Google's run_squad.py / BioBERT's flags.

    python run_qa.py --do_train --train_file=train-v1.1.json --do_predict \
        --predict_file=dev-v1.1.json --init_checkpoint=biobert/model.ckpt-1000000 \
        --do_lower_case=false --max_seq_length=384 --doc_stride=128 --output_dir=squad_out
    # BioASQ factoid from the SQuAD model, trained on golden files, scored on batch 5b-1:
    python run_qa.py --do_train --train_file=4B_golden.json --init_checkpoint=squad_out \
        --do_predict --predict_file=BioASQ-test-factoid-5b-1.json \
        --golden_file=5B1_golden.json --output_dir=bioasq_out
    # list questions (threshold tuned on a golden dev file, early stopping on its F1), yes/no:
    python run_qa.py --question_type=list --dev_file=4B5_golden.json --do_eval \
        --early_stopping_patience=2 ...
    python run_qa.py --question_type=yesno ...
    # a trained run knows its settings:
    python run_qa.py --output_dir=bioasq_out --do_predict \
        --predict_file=BioASQ-test-factoid-5b-2.json --golden_file=5B2_golden.json

--do_predict writes predictions.json and nbest_predictions.json (span questions) and the
scores (qa_metrics.json, eval_results.txt): SQuAD EM/F1 when the file has answers, and with a
golden file BioASQ's measures and BioASQform_BioASQ-answer.json. --do_eval scores --dev_file
(dev_metrics.json, dev_results.txt).
"""

from biobert_tf.engine import entry

entry.quiet_tensorflow()

from biobert_tf.engine import driver, settings  # noqa: E402
from biobert_tf.tasks.qa.task import QaSettings, SpanQaTask  # noqa: E402
from biobert_tf.tasks.qa.yesno import YesNoTask  # noqa: E402

settings.define_flags(QaSettings)


def main(argv):
    del argv
    # A trained --output_dir knows its question type; otherwise --question_type says.
    driver.main([SpanQaTask, YesNoTask], QaSettings,
                lambda run: YesNoTask if run.question_type == "yesno" else SpanQaTask)


if __name__ == "__main__":
    entry.run(main)
