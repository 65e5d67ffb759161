"""Sachan et al.'s BiLSTM-CRF tagger (run_ner.py --model=bilstm_crf): the word vocabulary,
the model, and the bidirectional language model that initialises it."""
