"""The precision and XLA chosen for the hardware found, and the flags that force them."""

import keras
import pytest
import tensorflow as tf

from biobert_tf.engine import distribute

STRATEGY = tf.distribute.get_strategy()


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n\n"
                       "processor\t: 1\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")
    assert distribute.cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "avx512f", "avx512_bf16"}
    assert distribute.cpu_flags(str(tmp_path / "absent")) == frozenset()


@pytest.mark.parametrize("flags, precision", [
    ({"avx2", "fma"}, "none"),                       # Zen 3, Haswell: bfloat16 is emulated
    ({"avx2", "avx512f"}, "none"),                   # Skylake-SP: no bfloat16 instructions
    ({"avx512f", "avx512_bf16"}, "bfloat16"),        # Cooper Lake, Zen 4
    ({"avx512f", "amx_bf16", "amx_tile"}, "bfloat16"),  # Sapphire Rapids
])
def test_cpus_get_bfloat16_only_with_native_bfloat16_matmul(flags, precision):
    assert distribute.fast_precision(STRATEGY, frozenset(flags)) == precision


@pytest.mark.parametrize("capability, precision", [((7, 0), "float16"), ((8, 0), "bfloat16"),
                                                   ((9, 0), "bfloat16")])
def test_gpus_get_bfloat16_from_ampere_on_and_float16_before(monkeypatch, capability, precision):
    gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: [gpu] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda device: {"compute_capability": capability})
    assert distribute.fast_precision(STRATEGY, frozenset()) == precision
    assert distribute.use_xla(None, STRATEGY, distribute.XLA_ON_ACCELERATORS)
    assert not distribute.use_xla(None, STRATEGY, distribute.XLA_NEVER)


def test_tpus_get_bfloat16_and_always_compile():
    # A TPUStrategy object without a TPU behind it: the choice reads only its type.
    tpu = tf.distribute.TPUStrategy.__new__(tf.distribute.TPUStrategy)
    assert distribute.fast_precision(tpu, frozenset({"avx2"})) == "bfloat16"
    for requested in (None, False, True):
        for default in (distribute.XLA_ON_CPUS_TOO, distribute.XLA_ON_ACCELERATORS,
                        distribute.XLA_NEVER):
            assert distribute.use_xla(requested, tpu, default)


def test_auto_sets_the_policy_and_a_given_precision_wins(monkeypatch):
    monkeypatch.setattr(distribute, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert distribute.set_mixed_precision("auto", STRATEGY) == "bfloat16"
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert distribute.set_mixed_precision("none", STRATEGY) == "none"
    assert keras.mixed_precision.global_policy().name == "float32"
    monkeypatch.setattr(distribute, "cpu_flags", lambda: frozenset({"avx2"}))
    assert distribute.set_mixed_precision("auto", STRATEGY) == "none"
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        distribute.set_mixed_precision("fp8", STRATEGY)


def test_forcing_a_precision_the_hardware_emulates_warns(monkeypatch, caplog):
    caplog.set_level("WARNING")
    monkeypatch.setattr(distribute, "cpu_flags", lambda: frozenset({"avx2"}))
    assert distribute.set_mixed_precision("bfloat16", STRATEGY) == "bfloat16"
    assert ("--mixed_precision=bfloat16: this hardware has no native bfloat16 matmul, so it is "
            "emulated and usually slower than float32") in caplog.text
    caplog.clear()
    monkeypatch.setattr(distribute, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    distribute.set_mixed_precision("bfloat16", STRATEGY)
    distribute.set_mixed_precision("none", STRATEGY)
    assert "--mixed_precision" not in caplog.text


def test_cpus_compile_float32_pretraining_only_with_eigens_kernels_unless_forced(monkeypatch):
    if tf.config.list_physical_devices("GPU"):
        pytest.fail("this test describes the CPU defaults; it ran on a GPU machine")
    monkeypatch.setattr(distribute, "onednn_enabled", lambda: True)
    assert not distribute.use_xla(None, STRATEGY, distribute.XLA_ON_CPUS_TOO)
    assert distribute.use_xla(True, STRATEGY, distribute.XLA_ON_CPUS_TOO)
    monkeypatch.setattr(distribute, "onednn_enabled", lambda: False)
    assert distribute.use_xla(None, STRATEGY, distribute.XLA_ON_CPUS_TOO)  # pretraining
    assert not distribute.use_xla(None, STRATEGY, distribute.XLA_ON_ACCELERATORS)  # fine-tuning
    assert not distribute.use_xla(None, STRATEGY, distribute.XLA_NEVER)  # BiLSTM models
    assert distribute.use_xla(True, STRATEGY, distribute.XLA_ON_ACCELERATORS)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    assert not distribute.use_xla(None, STRATEGY, distribute.XLA_ON_CPUS_TOO)
    assert distribute.use_xla(True, STRATEGY, distribute.XLA_ON_CPUS_TOO)
    keras.mixed_precision.set_global_policy("float32")
    assert not distribute.use_xla(False, STRATEGY, distribute.XLA_ON_CPUS_TOO)


def test_exports_compile_float32_encoders_only_with_eigens_kernels(monkeypatch):
    if tf.config.list_physical_devices("GPU"):
        pytest.fail("this test describes the CPU defaults; it ran on a GPU machine")
    monkeypatch.setattr(distribute, "onednn_enabled", lambda: False)
    assert distribute.xla_in_serving(distribute.XLA_ON_ACCELERATORS)
    assert not distribute.xla_in_serving(distribute.XLA_NEVER)  # BiLSTM models
    monkeypatch.setattr(distribute, "onednn_enabled", lambda: True)
    assert not distribute.xla_in_serving(distribute.XLA_ON_ACCELERATORS)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    monkeypatch.setattr(distribute, "onednn_enabled", lambda: False)
    assert not distribute.xla_in_serving(distribute.XLA_ON_ACCELERATORS)
