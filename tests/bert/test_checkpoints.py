"""Checkpoint import/export. TF1 checkpoints are written here with Google BERT's own
variable names (tf.raw_ops.SaveV2), independent of biobert_tf's writer."""

import dataclasses
import json
import os
import re
import subprocess

import numpy as np
import pytest
import tensorflow as tf

import numpy_bert
from biobert_tf.bert import checkpoints
from biobert_tf.bert.checkpoints import CheckpointError
from biobert_tf.bert.config import BertConfig, ConfigError
from biobert_tf.bert.modeling import BertEncoder
from biobert_tf.bert.tokenization import BertTokenizer
from helpers import corpus_lines, python


def google_variables(config: BertConfig, seed=0) -> dict[str, np.ndarray]:
    """Every variable of Google's run_pretraining graph, shapes as in modeling.py."""
    h, i, v = config.hidden_size, config.intermediate_size, config.vocab_size
    shapes = {"bert/embeddings/word_embeddings": [v, h],
              "bert/embeddings/token_type_embeddings": [config.type_vocab_size, h],
              "bert/embeddings/position_embeddings": [config.max_position_embeddings, h],
              "bert/embeddings/LayerNorm/gamma": [h], "bert/embeddings/LayerNorm/beta": [h],
              "bert/pooler/dense/kernel": [h, h], "bert/pooler/dense/bias": [h],
              "cls/predictions/transform/dense/kernel": [h, h],
              "cls/predictions/transform/dense/bias": [h],
              "cls/predictions/transform/LayerNorm/gamma": [h],
              "cls/predictions/transform/LayerNorm/beta": [h],
              "cls/predictions/output_bias": [v],
              "cls/seq_relationship/output_weights": [2, h],
              "cls/seq_relationship/output_bias": [2]}
    for n in range(config.num_hidden_layers):
        p = f"bert/encoder/layer_{n}/"
        for part in ("query", "key", "value"):
            shapes[f"{p}attention/self/{part}/kernel"] = [h, h]
            shapes[f"{p}attention/self/{part}/bias"] = [h]
        shapes.update({f"{p}attention/output/dense/kernel": [h, h],
                       f"{p}attention/output/dense/bias": [h],
                       f"{p}attention/output/LayerNorm/gamma": [h],
                       f"{p}attention/output/LayerNorm/beta": [h],
                       f"{p}intermediate/dense/kernel": [h, i], f"{p}intermediate/dense/bias": [i],
                       f"{p}output/dense/kernel": [i, h], f"{p}output/dense/bias": [h],
                       f"{p}output/LayerNorm/gamma": [h], f"{p}output/LayerNorm/beta": [h]})
    rng = np.random.default_rng(seed)
    return {name: rng.normal(0, 0.2, shape).astype(np.float32) for name, shape in shapes.items()}


def write_google_checkpoint(directory, config, variables, vocab_size=None, extra=True):
    """A BioBERT-style directory: model.ckpt-N (+ Adam slots, global_step), config, vocab."""
    tensors = dict(variables)
    if extra:
        for name in list(variables)[:3]:
            tensors[name + "/adam_m"] = np.zeros_like(variables[name])
            tensors[name + "/adam_v"] = np.ones_like(variables[name])
        tensors["global_step"] = np.array(1000000, np.int64)
    names = sorted(tensors)
    prefix = os.path.join(directory, "model.ckpt-1000000")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])
    config.to_json_file(os.path.join(directory, "bert_config.json"))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = [f"w{k}" for k in range((vocab_size or config.vocab_size) - len(specials))]
    with open(os.path.join(directory, "vocab.txt"), "w") as f:
        f.write("\n".join(specials + words) + "\n")
    return prefix


def tf1_to_hf_names(variables):
    """Google names → HF BertModel names (test-side, for the NumPy oracle)."""
    out = {}
    for name, value in variables.items():
        if not name.startswith("bert/"):
            continue
        parts = name[len("bert/"):].split("/")
        parts = [re.sub(r"^layer_(\d+)$", r"layer.\1", p) for p in parts]
        last = parts[-1]
        hf = ".".join(parts[:-1] + [{"gamma": "weight", "beta": "bias", "kernel": "weight"}
                                    .get(last, last)])
        if last.endswith("_embeddings"):
            hf = ".".join(parts) + ".weight"
        out[hf] = value.T if last == "kernel" else value
    return out


def _batch(vocab_size, length=10, seed=1):
    rng = np.random.default_rng(seed)
    mask = np.ones((2, length), np.int32)
    mask[1, 6:] = 0
    return {"token_ids": rng.integers(0, vocab_size, (2, length)).astype(np.int32) * mask,
            "segment_ids": (np.arange(length) >= 4).astype(np.int32)[None].repeat(2, 0) * mask,
            "padding_mask": mask}


@pytest.fixture
def google_checkpoint(tmp_path, tiny_config):
    variables = google_variables(tiny_config)
    return write_google_checkpoint(str(tmp_path), tiny_config, variables), variables


def test_tf1_checkpoint_matches_numpy_bert(google_checkpoint, tiny_config):
    prefix, variables = google_checkpoint
    config, model = checkpoints.load_pretraining_model(prefix)
    assert config == tiny_config
    batch = _batch(tiny_config.vocab_size)
    positions = np.array([[1, 2, 3], [0, 4, 5]], np.int32)
    out = model(dict(batch, masked_lm_positions=positions))
    hf_config = {"hidden_size": 16, "num_attention_heads": 4, "num_hidden_layers": 2}
    seq, pooled = numpy_bert.bert_forward(tf1_to_hf_names(variables), hf_config,
                                          batch["token_ids"], batch["segment_ids"],
                                          batch["padding_mask"], gelu="tanh")
    np.testing.assert_allclose(model.encoder(batch)["sequence_output"], seq, atol=1e-5)
    # Google's MLM head: transform (dense + gelu + LayerNorm), tied decoder, output bias.
    g = {k: v.astype(np.float64) for k, v in variables.items()}
    x = np.take_along_axis(seq, positions[..., None], axis=1)
    x = numpy_bert.gelu_tanh(x @ g["cls/predictions/transform/dense/kernel"]
                             + g["cls/predictions/transform/dense/bias"])
    x = numpy_bert.layer_norm(x, g["cls/predictions/transform/LayerNorm/gamma"],
                              g["cls/predictions/transform/LayerNorm/beta"], 1e-12)
    mlm = x @ g["bert/embeddings/word_embeddings"].T + g["cls/predictions/output_bias"]
    nsp = pooled @ g["cls/seq_relationship/output_weights"].T + g["cls/seq_relationship/output_bias"]
    np.testing.assert_allclose(out["mlm_logits"], mlm, atol=1e-4)
    np.testing.assert_allclose(out["nsp_logits"], nsp, atol=1e-5)


def test_tf1_load_export_reload_is_bit_identical(google_checkpoint, tiny_config, tmp_path):
    prefix, variables = google_checkpoint
    _, model = checkpoints.load_pretraining_model(prefix)
    out_dir = str(tmp_path / "exported")
    written = checkpoints.export(model, out_dir, "tf1", vocab_file=os.path.join(
        os.path.dirname(prefix), "vocab.txt"))
    reader = tf.train.load_checkpoint(written)
    assert set(reader.get_variable_to_shape_map()) == set(variables)  # Google's names, no more
    for name, value in variables.items():
        np.testing.assert_array_equal(reader.get_tensor(name), value)
    _, reloaded = checkpoints.load_pretraining_model(out_dir)
    inputs = dict(_batch(tiny_config.vocab_size), masked_lm_positions=np.array([[1], [2]], np.int32))
    for key in ("mlm_logits", "nsp_logits"):
        np.testing.assert_array_equal(model(inputs)[key], reloaded(inputs)[key])


def test_mismatched_checkpoint_lists_every_problem(tmp_path, tiny_config):
    variables = google_variables(tiny_config)
    del variables["bert/encoder/layer_1/output/dense/bias"]
    variables["bert/pooler/dense/kernel"] = np.zeros((16, 8), np.float32)
    variables["bert/encoder/layer_7/output/dense/bias"] = np.zeros(16, np.float32)
    prefix = write_google_checkpoint(str(tmp_path), tiny_config, variables)
    with pytest.raises(CheckpointError) as error:
        checkpoints.load_backbone(prefix)
    message = str(error.value)
    assert "3 problems" in message
    assert "missing bert/encoder/layer_1/output/dense/bias (expected shape [16])" in message
    assert "shape mismatch bert/pooler/dense/kernel: expected [16, 16], found [16, 8]" in message
    assert "unexpected bert/encoder/layer_7/output/dense/bias" in message
    # A checkpoint of a deeper model: its first problems, and how many more.
    deeper = dataclasses.replace(tiny_config,
                                 num_hidden_layers=tiny_config.num_hidden_layers + 2)
    prefix = write_google_checkpoint(str(tmp_path / "deeper"), deeper, google_variables(deeper))
    with pytest.raises(CheckpointError) as error:
        checkpoints.assign_weights(BertEncoder.from_bert_config(tiny_config),
                                   checkpoints.read_checkpoint(prefix).weights)
    lines = str(error.value).splitlines()
    assert len(lines) == 1 + checkpoints.SHOWN_PROBLEMS + 1 and lines[-1].startswith("  ... and ")
    assert "unexpected bert/encoder/layer_" in lines[1]


def test_task_heads_outside_bert_are_reported_not_loaded(tmp_path, tiny_config):
    variables = google_variables(tiny_config)
    variables["output_weights"] = np.zeros((3, 16), np.float32)  # BioBERT NER head
    prefix = write_google_checkpoint(str(tmp_path), tiny_config, variables)
    ignored = checkpoints.assign_weights(BertEncoder.from_bert_config(tiny_config),
                                         checkpoints.read_tf1_weights(prefix))
    assert "output_weights" in ignored and "cls/predictions/output_bias" in ignored


def test_wrong_vocab_is_rejected(tmp_path, tiny_config):
    write_google_checkpoint(str(tmp_path), tiny_config, google_variables(tiny_config),
                            vocab_size=60)
    with pytest.raises(ConfigError, match="has 60 tokens but the model's vocab_size .* is 64"):
        checkpoints.load_backbone(str(tmp_path))


def test_missing_config_and_unreadable_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="cannot read TF1 checkpoint"):
        checkpoints.load_backbone(str(tmp_path / "model.ckpt-1"))
    with pytest.raises(CheckpointError, match="expected one TF1 checkpoint"):
        checkpoints.load_backbone(str(tmp_path))


def _flip_byte(path, position):
    data = bytearray(open(path, "rb").read())
    data[position] ^= 0xFF
    open(path, "wb").write(bytes(data))


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


@pytest.mark.parametrize("damage", [
    lambda prefix: _truncate(prefix + ".index"),
    lambda prefix: _truncate(prefix + ".data-00000-of-00001"),
    # TF checks a CRC32C per tensor: flipped bytes are an error, never wrong values.
    lambda prefix: _flip_byte(prefix + ".data-00000-of-00001", 100),
    lambda prefix: _flip_byte(prefix + ".index", 20),
], ids=["index truncated", "data truncated", "data flipped", "index flipped"])
def test_damaged_tf1_checkpoint_is_one_clear_error(tmp_path, tiny_config, damage):
    prefix = write_google_checkpoint(str(tmp_path), tiny_config, google_variables(tiny_config))
    damage(prefix)
    with pytest.raises(CheckpointError, match=f"cannot read TF1 checkpoint {re.escape(prefix)}: "):
        checkpoints.read_tf1_weights(prefix)


def test_damaged_object_checkpoint_is_one_clear_error(tmp_path):
    """Our own run checkpoints (tf.train.Checkpoint) through the same guard."""
    variable = tf.Variable(np.arange(1000, dtype=np.float32))
    path = tf.train.Checkpoint(v=variable).write(str(tmp_path / "ckpt"))
    _flip_byte(path + ".data-00000-of-00001", 2000)
    with pytest.raises(CheckpointError, match=f"cannot read checkpoint {re.escape(path)}: "):
        with checkpoints.reading_checkpoint(path):
            tf.train.Checkpoint(v=variable).read(path).expect_partial()


def _hf_dir_with(tmp_path, tiny_config, name, value):
    """An HF directory of a tiny model in which tensor `name` is replaced by `value`."""
    weights = google_variables(tiny_config)
    checkpoints.write_hf_weights(weights, str(tmp_path))
    tiny_config.to_hf_json_file(str(tmp_path / "config.json"))
    from safetensors.numpy import load_file, save_file
    path = str(tmp_path / "model.safetensors")
    tensors = load_file(path)
    tensors[name] = value
    save_file(tensors, path)
    return str(tmp_path)


@pytest.mark.parametrize("value, message", [
    (np.ones([16], np.int32), "dtype int32, expected floating point"),
    (np.full([16], np.nan, np.float32), "non-finite"),
    (np.full([16], -np.inf, np.float16), "non-finite"),
])
def test_hf_tensor_of_wrong_dtype_or_non_finite_is_refused_by_name(tmp_path, tiny_config,
                                                                    value, message):
    name = "bert.encoder.layer.0.output.dense.bias"
    directory = _hf_dir_with(tmp_path, tiny_config, name, value)
    with pytest.raises(CheckpointError, match=f"tensor {re.escape(name)} has {message}"):
        checkpoints.read_hf_weights(directory)


@pytest.mark.parametrize("name", ["weight", "cls.seq_relationship.scale", "encoder.layer"])
def test_hf_tensor_of_unknown_name_is_reported_not_a_traceback(tmp_path, tiny_config, name):
    directory = _hf_dir_with(tmp_path, tiny_config, name, np.zeros([2], np.float32))
    weights = checkpoints.read_hf_weights(directory)
    if name.startswith("cls."):  # outside the encoder: reported, not loaded
        assert checkpoints.assign_weights(BertEncoder.from_bert_config(tiny_config), weights)
    else:
        with pytest.raises(CheckpointError, match="unexpected bert/"):
            checkpoints.assign_weights(BertEncoder.from_bert_config(tiny_config), weights)


@pytest.mark.parametrize("text", ['["model_type", "bert"]', '"model_type"',
                                  '{"model_type": "bert",', '{"model_type": NaN}'])
def test_hf_config_that_is_not_a_json_object_is_a_clear_error(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "config.json"))):
        checkpoints.read_checkpoint(str(tmp_path))


def test_pickled_hf_weights_are_refused(tmp_path, minilm_dir):
    (tmp_path / "config.json").write_text(open(f"{minilm_dir}/config.json").read())
    (tmp_path / "pytorch_model.bin").write_bytes(b"not opened")
    with pytest.raises(CheckpointError, match="arbitrary code.*safe_serialization=True"):
        checkpoints.load_backbone(str(tmp_path))


@pytest.fixture(scope="module")
def minilm_batch(minilm_dir):
    tokenizer = BertTokenizer(f"{minilm_dir}/vocab.txt", do_lower_case=True)
    sentences = [line.split(". ")[0] for line in corpus_lines()[:8]]
    packed = tokenizer.pack(tokenizer.tokenize(tf.constant(sentences)), seq_length=64)
    return {k: packed[k].numpy() for k in ("token_ids", "segment_ids", "padding_mask")}


@pytest.fixture(scope="module")
def minilm_encoder(minilm_dir):
    return checkpoints.load_backbone(minilm_dir)[1]


def test_minilm_matches_independent_numpy_bert(minilm_dir, minilm_batch, minilm_encoder):
    out = minilm_encoder(minilm_batch)
    seq, pooled = numpy_bert.bert_forward(
        numpy_bert.load_safetensors(f"{minilm_dir}/model.safetensors"),
        json.load(open(f"{minilm_dir}/config.json")), minilm_batch["token_ids"],
        minilm_batch["segment_ids"], minilm_batch["padding_mask"], gelu="exact")
    real = minilm_batch["padding_mask"].astype(bool)
    assert real.sum() > 150 and (~real).sum() > 0  # padding is exercised too
    seq_diff = np.abs(out["sequence_output"].numpy()[real] - seq[real]).max()
    pooled_diff = np.abs(out["pooled_output"].numpy() - pooled).max()
    print(f"MiniLM parity: sequence_output {seq_diff:.2e}, pooled_output {pooled_diff:.2e}")
    assert seq_diff <= 1e-4 and pooled_diff <= 1e-4


def test_minilm_through_tf1_and_hf_layouts_is_unchanged(minilm_dir, minilm_batch, minilm_encoder,
                                                        tmp_path):
    expected = minilm_encoder(minilm_batch)
    checkpoints.export(minilm_encoder, str(tmp_path / "tf1"), "tf1", f"{minilm_dir}/vocab.txt")
    config, from_tf1 = checkpoints.load_backbone(str(tmp_path / "tf1"))
    assert config.hidden_act == "gelu_exact"
    checkpoints.export(from_tf1, str(tmp_path / "hf"), "hf", f"{minilm_dir}/vocab.txt")
    _, from_hf = checkpoints.load_backbone(str(tmp_path / "hf"))
    for model in (from_tf1, from_hf):
        out = model(minilm_batch)
        for key in expected:
            np.testing.assert_array_equal(out[key], expected[key])


def test_hf_heads_with_and_without_bert_prefix(google_checkpoint, tiny_config, tmp_path):
    from safetensors.numpy import load_file, save_file
    prefix, _ = google_checkpoint
    _, model = checkpoints.load_pretraining_model(prefix)
    hf_dir = tmp_path / "hf"
    checkpoints.export(model, str(hf_dir), "hf")
    names = set(load_file(str(hf_dir / "model.safetensors")))
    assert {"bert.encoder.layer.1.attention.self.query.weight", "cls.predictions.bias",
            "cls.seq_relationship.weight", "bert.embeddings.LayerNorm.weight"} <= names
    inputs = dict(_batch(tiny_config.vocab_size), masked_lm_positions=np.array([[1], [3]], np.int32))
    _, reloaded = checkpoints.load_pretraining_model(str(hf_dir), require_heads=True)
    for key in ("mlm_logits", "nsp_logits"):
        np.testing.assert_array_equal(model(inputs)[key], reloaded(inputs)[key])
    # A plain BertModel file: no "bert." prefix, no heads.
    bare = {k[len("bert."):]: v for k, v in load_file(str(hf_dir / "model.safetensors")).items()
            if k.startswith("bert.")}
    save_file(bare, str(hf_dir / "model.safetensors"))
    _, encoder = checkpoints.load_backbone(str(hf_dir))
    np.testing.assert_array_equal(encoder(_batch(64))["pooled_output"],
                                  model.encoder(_batch(64))["pooled_output"])
    with pytest.raises(CheckpointError, match="missing cls/predictions/output_bias"):
        checkpoints.load_pretraining_model(str(hf_dir), require_heads=True)


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_exact"])
def test_keras_hub_preset_round_trip(tmp_path, tiny_config, hidden_act):
    import dataclasses
    import keras_hub
    config = dataclasses.replace(tiny_config, hidden_act=hidden_act)
    variables = google_variables(config)
    prefix = write_google_checkpoint(str(tmp_path), config, variables)
    _, encoder = checkpoints.load_backbone(prefix)
    preset = str(tmp_path / "preset")
    checkpoints.export(encoder, preset, "keras", os.path.join(str(tmp_path), "vocab.txt"))
    batch = _batch(config.vocab_size)
    if hidden_act == "gelu":  # Google's GELU: a plain keras-hub BertBackbone preset
        backbone = keras_hub.models.BertBackbone.from_preset(preset)
        assert type(backbone) is keras_hub.models.BertBackbone
        np.testing.assert_array_equal(backbone(batch)["sequence_output"],
                                      encoder(batch)["sequence_output"])
    loaded_config, reloaded = checkpoints.load_backbone(preset)
    assert loaded_config == config
    np.testing.assert_array_equal(reloaded(batch)["sequence_output"], encoder(batch)["sequence_output"])


def test_convert_command_line(google_checkpoint, tmp_path):
    prefix, variables = google_checkpoint
    out = tmp_path / "hf_out"
    result = subprocess.run([*python(), "-m", "biobert_tf.bert.convert", f"--input={prefix}",
                             f"--output={out}", "--to=hf"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "with MLM/NSP heads" in result.stdout
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors", "vocab.txt"]
    weights = checkpoints.read_hf_weights(str(out))
    assert set(weights) == set(variables)
    for name, value in variables.items():
        np.testing.assert_array_equal(weights[name], value)
