"""Every trainable variable of every task model reaches its TF checkpoint (layers kept in
Python lists would not, and a resumed run would silently start them fresh)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from biobert_tf.tasks.ner.bilstm.model import BiLanguageModel, BiLstmConfig, BiLstmTagger
from biobert_tf.tasks.classification import PairClassifier
from biobert_tf.bert.config import BertConfig
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.tasks.ner.model import NerLabels, NerModel
from biobert_tf.tasks.qa.model import QaModel
from biobert_tf.tasks.relation.model import HEADS, RelationModel

LABELS = NerLabels(["O", "B-Chem", "I-Chem"], "bio")
BILSTM = BiLstmConfig(vocab_size=40, num_chars=12, word_embedding_dim=8, char_embedding_dim=4,
                      char_filters=6, lstm_units=5, num_layers=2)


def encoder():
    return BertEncoder.from_bert_config(BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16))


MODELS = {
    "ner_crf": lambda: NerModel(encoder(), LABELS, use_crf=True),
    **{f"re_{head}": (lambda head=head: RelationModel(encoder(), 3, head, lstm_units=4))
       for head in HEADS},
    "qa": lambda: QaModel(encoder()),
    "yesno": lambda: PairClassifier(encoder(), 2),
    "bilstm_crf": lambda: BiLstmTagger(BILSTM, LABELS),
    "bilm": lambda: BiLanguageModel(BILSTM),
}


def build(name):
    model = MODELS[name]()
    inputs = {k: tf.ones([1, 6], tf.int32) for k in
              ("token_ids", "segment_ids", "padding_mask", "word_ids")}
    inputs.update(e1_start=tf.ones([1], tf.int32), e2_start=tf.ones([1], tf.int32),
                  chars=tf.ones([1, 6, 3], tf.int32))
    model(inputs)
    return model


@pytest.mark.parametrize("name", list(MODELS))
def test_checkpoint_restores_every_trainable_variable(name, tmp_path):
    keras.utils.set_random_seed(1)
    saved = build(name)
    path = tf.train.Checkpoint(model=saved).write(str(tmp_path / "ckpt"))
    keras.utils.set_random_seed(2)
    restored = build(name)
    tf.train.Checkpoint(model=restored).read(path).assert_existing_objects_matched()
    assert len(saved.trainable_variables) == len(restored.trainable_variables) > 0
    for a, b in zip(saved.trainable_variables, restored.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{name}: {a.path}")
