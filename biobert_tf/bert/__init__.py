"""The BERT model family: config, in-graph WordPiece tokenization, packing, the keras-hub
encoder with Google's pretraining heads, and checkpoint import/export (TF1, HF, keras-hub)."""
