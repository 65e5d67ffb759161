"""biobert-tf: BioBERT in TensorFlow 2 / Keras 3.

Modules: `config` (bert_config.json), `tokenization` (in-graph WordPiece),
`modeling` (encoder and pretraining heads), `checkpoints` (TF1 / HF / keras-hub
import and export), `pretraining_data` (TFRecord schema and input pipeline),
`optimization` (Google's AdamWeightDecay), `distribute` (strategies, precision),
`training` (the shared training loop), `pretraining` (MLM + NSP task),
`convert` and `selfcheck` (command lines).
"""

__version__ = "0.1.0"
