r"""Fine-tune BERT for biomedical named-entity recognition: BioBERT's run_ner.py flags.

    python run_ner.py                       # the built-in demo (MiniLM on a cut of NCBI-disease)
    python run_ner.py --do_train --do_eval --do_predict --data_dir=NCBI-disease \
        --vocab_file=biobert/vocab.txt --bert_config_file=biobert/bert_config.json \
        --init_checkpoint=biobert/model.ckpt-1000000 --do_lower_case=false \
        --num_train_epochs=10 --output_dir=out [--use_crf] [--export_dir=out/saved_model]
    python run_ner.py --output_dir=out --predict_text="BRCA1 mutations cause breast cancer."
    python -m biobert_tf.tasks.ner.bilstm.bilm --input_file=abstracts.txt \
        --ner_file=NCBI-disease/train.tsv --output_dir=bilm
    python run_ner.py --model=bilstm_crf --init_bilm_checkpoint=bilm --do_train --do_predict \
        --data_dir=NCBI-disease --train_file=train.tsv --learning_rate=1e-3 --output_dir=out

Training reads `--train_file` (BioBERT: train_dev.tsv), --do_eval scores devel.tsv
(eval_results.txt) and --do_predict scores test.tsv (test_results.txt, NER_result_conll.txt,
predictions.jsonl). Re-running the same command resumes from the newest checkpoint. A trained
--output_dir needs no other flag to predict (its results go to a fresh subfolder).
"""

import sys

from biobert_tf.engine import entry

entry.quiet_tensorflow()

from biobert_tf.engine import driver, settings  # noqa: E402
from biobert_tf.tasks.ner import demo  # noqa: E402
from biobert_tf.tasks.ner.bilstm.task import BiLstmNerTask  # noqa: E402
from biobert_tf.tasks.ner.task import NerSettings, NerTask  # noqa: E402

settings.define_flags(NerSettings)
TASKS = {"bert": NerTask, "bilstm_crf": BiLstmNerTask}


def main(argv):
    del argv
    run = settings.from_flags(NerSettings)
    if run.demo or len(sys.argv) == 1:
        demo.run(run.output_dir)
    else:
        # A trained --output_dir knows its model; otherwise --model says.
        driver.main(list(TASKS.values()), NerSettings, lambda run: TASKS[run.model])


if __name__ == "__main__":
    entry.run(main)
