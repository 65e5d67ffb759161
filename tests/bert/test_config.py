import dataclasses
import json
import re

import hypothesis
import pytest

from biobert_tf.bert.config import BertConfig, ConfigError


def test_google_json_round_trip(tmp_path, tiny_config):
    path = tmp_path / "bert_config.json"
    tiny_config.to_json_file(str(path))
    written = json.loads(path.read_text())
    assert written["hidden_act"] == "gelu" and "gelu_exact" not in written
    assert BertConfig.from_json_file(str(path)) == tiny_config


def test_google_json_ignores_unknown_keys_like_google(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({"vocab_size": 10, "hidden_size": 8, "num_attention_heads": 2,
                                "directionality": "bidi", "pooler_fc_size": 768}))
    config = BertConfig.from_json_file(str(path))
    assert (config.vocab_size, config.hidden_size, config.hidden_act) == (10, 8, "gelu")


def test_hf_config_gelu_is_exact_and_survives_google_format(tmp_path, minilm_dir):
    config = BertConfig.from_json_file(f"{minilm_dir}/config.json")
    assert config.hidden_act == "gelu_exact"
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (30522, 384, 6)
    google = tmp_path / "bert_config.json"
    config.to_json_file(str(google))
    assert json.loads(google.read_text())["hidden_act"] == "gelu"  # readable by Google's code
    assert BertConfig.from_json_file(str(google)) == config
    hf = tmp_path / "config.json"
    config.to_hf_json_file(str(hf))
    assert json.loads(hf.read_text())["hidden_act"] == "gelu"
    assert BertConfig.from_json_file(str(hf)) == config


def test_hf_tanh_gelu_maps_to_google_gelu():
    config = BertConfig.from_hf_dict({"model_type": "bert", "vocab_size": 5, "hidden_act": "gelu_new"})
    assert config.hidden_act == "gelu"
    assert config.to_hf_dict()["hidden_act"] == "gelu_new"


@pytest.mark.parametrize("values, message", [
    ({"vocab_size": 10, "hidden_act": "swish"}, "hidden_act 'swish' is not supported"),
    ({"vocab_size": 10, "hidden_size": 10, "num_attention_heads": 3}, "not a multiple"),
    ({"vocab_size": 0}, "vocab_size must be a positive integer"),
    ({"vocab_size": 10, "hidden_dropout_prob": 1.5}, "hidden_dropout_prob must be in"),
    ({"hidden_size": 8}, "missing required key 'vocab_size'"),
])
def test_invalid_google_configs_are_rejected_clearly(tmp_path, values, message):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(values))
    with pytest.raises(ConfigError, match=message) as error:
        BertConfig.from_json_file(str(path))
    assert str(path) in str(error.value)


def test_invalid_hf_configs_are_rejected_clearly():
    with pytest.raises(ConfigError, match="model_type 'roberta' is not a BERT"):
        BertConfig.from_hf_dict({"model_type": "roberta", "vocab_size": 5})
    with pytest.raises(ConfigError, match="layer_norm_eps"):
        BertConfig.from_hf_dict({"model_type": "bert", "vocab_size": 5, "layer_norm_eps": 1e-5})
    with pytest.raises(ConfigError, match="hidden_act 'silu'"):
        BertConfig.from_hf_dict({"model_type": "bert", "vocab_size": 5, "hidden_act": "silu"})


def test_malformed_and_missing_files(tmp_path):
    bad = tmp_path / "bert_config.json"
    bad.write_text('{"vocab_size": 10,\n "hidden_size": }')
    with pytest.raises(ConfigError, match=r"bert_config.json:2: malformed JSON"):
        BertConfig.from_json_file(str(bad))
    bad.write_bytes(b'{"vocab_size": "\xff"}')
    with pytest.raises(ConfigError, match="not UTF-8"):
        BertConfig.from_json_file(str(bad))
    with pytest.raises(ConfigError, match="not found"):
        BertConfig.from_json_file(str(tmp_path / "nope.json"))


@pytest.mark.parametrize("field, value, message", [
    ("hidden_size", "768", "hidden_size must be a positive integer, got '768'"),
    ("hidden_size", True, "hidden_size must be a positive integer, got True"),
    ("hidden_size", 3.5, "hidden_size must be a positive integer, got 3.5"),
    ("num_hidden_layers", -2, "num_hidden_layers must be a positive integer"),
    ("hidden_dropout_prob", False, "hidden_dropout_prob must be in"),
    ("attention_probs_dropout_prob", 1.0, "attention_probs_dropout_prob must be in"),
    ("attention_probs_dropout_prob", -0.1, "attention_probs_dropout_prob must be in"),
    ("initializer_range", 0, "initializer_range must be a positive finite number"),
    ("hidden_act", ["gelu"], r"hidden_act \['gelu'\] is not supported"),
])
def test_google_config_field_of_wrong_type_or_range_names_file_and_field(
        tmp_path, tiny_config, field, value, message):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps({**tiny_config.to_dict(), field: value}))
    with pytest.raises(ConfigError, match=message) as error:
        BertConfig.from_json_file(str(path))
    assert str(path) in str(error.value)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(tmp_path, constant):
    path = tmp_path / "bert_config.json"
    path.write_text('{"vocab_size": 10, "hidden_dropout_prob": %s}' % constant)
    with pytest.raises(ConfigError, match=f"{path}: {constant} is not a JSON number"):
        BertConfig.from_json_file(str(path))


def test_number_too_large_for_a_float_is_refused(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text('{"vocab_size": 10, "initializer_range": 1e999}')  # parses as inf
    with pytest.raises(ConfigError, match=f"{path}: .*initializer_range must be a positive finite"):
        BertConfig.from_json_file(str(path))


@pytest.mark.parametrize("text, message", [
    ("[1, 2]", "expected a JSON object, got list"),
    ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
], ids=["list", "deep nesting"])
def test_config_that_is_not_an_object_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"{path}: {message}"):
        BertConfig.from_json_file(str(path))


@pytest.mark.parametrize("field, value", [("hidden_act", ["gelu"]), ("layer_norm_eps", "1e-12"),
                                          ("layer_norm_eps", None)])
def test_hf_config_field_of_wrong_type_is_a_clear_error(field, value):
    with pytest.raises(ConfigError, match=f"config.json: {field}"):
        BertConfig.from_hf_dict({"model_type": "bert", "vocab_size": 5, field: value})


_JSON_VALUES = hypothesis.strategies.recursive(
    hypothesis.strategies.none() | hypothesis.strategies.booleans()
    | hypothesis.strategies.integers(-10, 10**6) | hypothesis.strategies.floats()
    | hypothesis.strategies.text(max_size=8),
    lambda children: hypothesis.strategies.lists(children, max_size=3)
    | hypothesis.strategies.dictionaries(hypothesis.strategies.text(max_size=4), children,
                                         max_size=3),
    max_leaves=5)
_FIELDS = [f.name for f in dataclasses.fields(BertConfig)] + [
    "model_type", "layer_norm_eps", "position_embedding_type", "gelu_exact"]


@hypothesis.settings(max_examples=200, deadline=None,
                     suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(changes=hypothesis.strategies.dictionaries(
    hypothesis.strategies.sampled_from(_FIELDS), _JSON_VALUES, max_size=4))
def test_any_json_values_give_a_config_or_an_error_naming_the_file(tmp_path, tiny_config,
                                                                   changes):
    path = tmp_path / "bert_config.json"
    # allow_nan: Python writes NaN/Infinity, which the reader must refuse too.
    path.write_text(json.dumps({**tiny_config.to_dict(), **changes}))
    try:
        BertConfig.from_json_file(str(path))
    except ConfigError as error:
        assert str(path) in str(error)


@pytest.mark.parametrize("text, message", [
    ('"bert"', ": expected a JSON object, got str"),
    ("", ": empty file"),
    ('{"model_type": "bert", "vocab_size": 10, "vocab_size": 12}',
     ": the key 'vocab_size' occurs twice"),
    ('{"model_type": "bert", "vocab_size": 10, "id2label": {"0": NaN}}',
     r": NaN is not a JSON number \(at id2label\.0\)"),
    ('{"model_type": "bert", "vocab_size": 10,', ":1: malformed JSON"),
])
def test_a_damaged_hf_config_json_is_one_clear_error(tmp_path, text, message):
    from biobert_tf.bert import checkpoints

    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="^" + re.escape(str(path)) + message):
        checkpoints.read_checkpoint(str(tmp_path))
