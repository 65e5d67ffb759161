"""The fine-tuning tasks, one package each (ner, relation, qa), and the shared `[CLS]`
classifier (classification)."""
