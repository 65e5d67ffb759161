"""biobert-tf: BioBERT in TensorFlow 2 / Keras 3.

Subpackages (dependencies point down this list; the BERT core never imports a task):

- `tasks`: one package per fine-tuning task, each a `Task` of the engine —
  `tasks.ner` (BERT tagger: data, labels, inputs, model, crf, metrics, task, demo) with
  `tasks.ner.bilstm` (Sachan et al.'s BiLSTM-CRF and its BiLM), `tasks.relation`
  (relation extraction, cross-validation) and `tasks.qa` (SQuAD/BioASQ spans, yes/no);
  `tasks.classification` is the `[CLS]` classifier RE and yes/no share.
- `pretraining`: the TFRecord schema and input pipeline, the MLM + NSP objective and the
  run_pretraining wiring.
- `engine`: what every job shares — `settings` (dataclass fields become absl flags),
  `task` (the one Task interface), `driver` (the one run sequence), `run_dir` (the
  self-describing run directory), `training` (the one loop), `batching`, `optimization`,
  `distribute`, `progress`, `file_prediction`, `serving`, `entry` (one-line errors).
- `bert`: the model family — `config` (bert_config.json), `tokenization` (in-graph WordPiece),
  `packing` ([CLS] … [SEP] rows), `modeling` (keras-hub encoder, pretraining heads),
  `checkpoints` (TF1 / HF / keras-hub import and export), `convert` (its command line).

Also `resources` (the demo's vocab, config and data), `selfcheck` (an installation check) and
`text_files` (the one UTF-8 line reader).
"""

import os
import platform
import sys

__version__ = "0.1.0"

# TensorFlow turns its oneDNN CPU kernels on by itself only on x86 CPUs with AVX512-VNNI,
# AVX512-BF16 or AMX. On an AVX2 CPU they made a MiniLM fine-tuning step 2.2x faster
# (Eigen's batched matmuls of attention ran at ~12 GFLOP/s, oneDNN's at ~40-65; see
# docs/benchmarks.md), so they are the default on every x86-64 CPU. It must be chosen before
# TensorFlow loads; TF_ENABLE_ONEDNN_OPTS=0 in the environment keeps Eigen's kernels.
if "tensorflow" not in sys.modules and platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
