"""Named-entity recognition (run_ner.py): BioBERT tsv / CoNLL data, the tag set, windows over
long sentences, the softmax or CRF tagger, conlleval metrics and the raw-text SavedModel."""
