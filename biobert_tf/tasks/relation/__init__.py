"""Relation extraction (run_re.py): BioBERT / SciBERT / jsonl data, entity blinding or
markers, the [CLS] / SLL_Att / LSTM heads, re_eval metrics, k-fold cross-validation."""
