r"""Continue BERT pretraining (MLM + NSP) on TPU, GPUs or CPU: Google BERT's flags.

    python run_pretraining.py --input_file='data/pubmed-*.tfrecord' --output_dir=out \
        --bert_config_file=biobert/bert_config.json --init_checkpoint=biobert/model.ckpt-1000000 \
        --do_train --do_eval --train_batch_size=192 --max_seq_length=128 \
        --num_train_steps=200000 --num_warmup_steps=10000 --learning_rate=5e-5 \
        [--use_tpu --tpu_name=...] [--distribution_strategy=mirrored] [--mixed_precision=bfloat16]
    python run_pretraining.py --input_file='held_out/*.tfrecord' --output_dir=out --do_eval

Re-running the same command resumes from the newest checkpoint in `--output_dir`. Training
exports the model in Google's TF1 layout to `--output_dir`/tf1; --do_eval writes
eval_results.txt. The TFRecords come from `python -m tfrecords_tools.create_pretraining_data`
(or Google's create_pretraining_data.py).
"""

from biobert_tf.engine import entry

entry.quiet_tensorflow()

from biobert_tf.engine import settings  # noqa: E402
from biobert_tf.pretraining.run import PretrainingSettings, main  # noqa: E402

settings.define_flags(PretrainingSettings)

if __name__ == "__main__":
    entry.run(main)
