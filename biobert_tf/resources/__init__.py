"""Files shipped with the package (configs, the demo vocabulary, the NER demo data); see
README.md here."""

import os

BIOBERT_BASE_CONFIG = "biobert_base_cased_config.json"
DEMO_CONFIG = "demo_bert_config.json"
DEMO_VOCAB = "demo_vocab.txt"
NER_DEMO_DIR = "ner_demo"  # a cut of NCBI-disease for `run_ner.py` without flags


def path(name: str) -> str:
    """Absolute path of a shipped resource file or directory."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
