"""Files shipped with the package (configs and the demo vocabulary); see README.md here."""

import os

BIOBERT_BASE_CONFIG = "biobert_base_cased_config.json"
DEMO_CONFIG = "demo_bert_config.json"
DEMO_VOCAB = "demo_vocab.txt"


def path(name: str) -> str:
    """Absolute path of a shipped resource file."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
