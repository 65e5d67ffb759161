"""biobert-tf: BioBERT in TensorFlow 2 / Keras 3.

Modules: `config` (bert_config.json), `tokenization` (in-graph WordPiece),
`modeling` (encoder and pretraining heads), `checkpoints` (TF1 / HF / keras-hub
import and export), `convert` (command line), `selfcheck` (installation check).
"""

__version__ = "0.1.0"
