"""Distribution strategy, mixed precision and XLA: chosen by flags or, by default, for the
hardware found; the only TPU- and GPU-specific code.

Everything else (model, loop, checkpoints) is the same for every strategy.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from absl import logging

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu")
PRECISIONS = ("auto", "none", "bfloat16", "float16")
# Where a job's training step is XLA-compiled unless --jit_compile says (see `use_xla`).
XLA_ON_CPUS_TOO, XLA_ON_ACCELERATORS, XLA_NEVER = "cpus_too", "accelerators", "never"
# /proc/cpuinfo flags of CPUs that multiply bfloat16 matrices natively (oneDNN uses them).
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# What the log says of an export whose encoder is compiled (see `xla_in_serving`).
SERVING_COMPILED = "XLA-compiled"


def create_strategy(name: str = "default", tpu: str | None = None, tpu_zone: str | None = None,
                    gcp_project: str | None = None) -> tf.distribute.Strategy:
    """`tpu`: TPUStrategy on the named TPU (or the local one with `tpu="local"`);
    `mirrored`: all local GPUs (or CPUs); `multi_worker_mirrored`: hosts from TF_CONFIG;
    `one_device`: the first GPU, else the CPU; `default`: no distribution."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown distribution strategy {name!r} (expected one of "
                         f"{', '.join(STRATEGIES)})")
    if name == "tpu":
        if not tpu:
            raise ValueError("the tpu strategy needs --tpu_name (or 'local' on a TPU VM)")
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=tpu, zone=tpu_zone, project=gcp_project)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
    elif name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    elif name == "multi_worker_mirrored":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        strategy = tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    else:
        strategy = tf.distribute.get_strategy()
    logging.info("strategy %s with %d replicas", type(strategy).__name__,
                 strategy.num_replicas_in_sync)
    return strategy


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere). Read by hand: neither
    TensorFlow nor the standard library says whether the CPU multiplies bfloat16 natively."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            return frozenset(word for line in f if line.startswith("flags")
                             for word in line.split(":", 1)[1].split())
    except OSError:
        return frozenset()


def fast_precision(strategy: tf.distribute.Strategy, flags: frozenset[str] | None = None) -> str:
    """The fastest precision that keeps BERT's accuracy on the hardware the strategy runs on:
    bfloat16 on TPUs, on GPUs of compute capability 8 or more (Ampere) and on CPUs with native
    bfloat16 matrix instructions (AVX512-BF16, AMX); float16 with loss scaling on older GPUs;
    float32 ("none") elsewhere, where bfloat16 would be emulated and slower."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "bfloat16"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        return "bfloat16" if capability and capability >= (8, 0) else "float16"
    flags = cpu_flags() if flags is None else flags
    return "bfloat16" if flags & BF16_CPU_FLAGS else "none"


def set_mixed_precision(precision: str, strategy: tf.distribute.Strategy | None = None) -> str:
    """Sets Keras' dtype policy: compute in bfloat16 or float16 with float32 variables, or
    all float32 ("none"); "auto" chooses `fast_precision` for the strategy's hardware.
    float16 also needs loss scaling, which the training loop adds. Returns the precision."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (expected one of {', '.join(PRECISIONS)})")
    if precision != "none":  # auto, or a reduced precision the hardware may only emulate
        fast = fast_precision(strategy or tf.distribute.get_strategy())
        # bfloat16 where auto does not pick it (CPUs without it, GPUs before Ampere), float16
        # on CPUs: emulated there.
        if ((precision == "bfloat16" and fast != "bfloat16")
                or (precision == "float16" and fast == "none")):
            logging.warning("--mixed_precision=%s: this hardware has no native %s matmul, so "
                            "it is emulated and usually slower than %s (what auto picks here)",
                            precision, precision, "float32" if fast == "none" else fast)
        if precision == "auto":
            precision = fast
    keras.mixed_precision.set_global_policy("float32" if precision == "none"
                                            else f"mixed_{precision}")
    return precision


def xla_in_serving(default: str) -> bool:
    """Whether an exported model XLA-compiles its encoder (the serving function's chunks):
    unless the job is never compiled (`default` XLA_NEVER: BiLSTM models), in float32 only
    (XLA computes bfloat16 products in float32), and only where this process runs Eigen's CPU
    kernels, or a GPU: against Eigen the compiled MiniLM encoder was 1.5x faster, against
    oneDNN 1.3x (AVX2) to 1.8x (AVX512) slower alone, and no faster in a whole serving call
    (docs/benchmarks.md)."""
    compiled = (default != XLA_NEVER
                and keras.mixed_precision.global_policy().compute_dtype == "float32"
                and (bool(tf.config.list_physical_devices("GPU")) or not onednn_enabled()))
    logging.info("the exported model's encoder is %s", SERVING_COMPILED if compiled
                 else "not compiled")
    return compiled


def use_xla(requested: bool | None, strategy: tf.distribute.Strategy,
            default: str = XLA_ON_ACCELERATORS) -> bool:
    """Whether the training step is XLA-compiled: always on TPUs; else as `requested`, or by
    the job's `default` (None): XLA_ON_CPUS_TOO compiles on GPUs and, in float32, on CPUs
    running Eigen's kernels (BERT pretraining: fixed shapes, measured faster than Eigen;
    oneDNN's kernels, see `onednn_enabled`, were faster than XLA, also in bfloat16),
    XLA_ON_ACCELERATORS on GPUs only (fine-tuning: on CPUs the compiled step was not faster
    and each padded length costs a compilation), XLA_NEVER not at all (BiLSTM models).
    Figures: docs/benchmarks.md."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return True
    if requested is not None:
        return requested
    if default == XLA_NEVER:
        return False
    if tf.config.list_physical_devices("GPU"):
        return True
    return default == XLA_ON_CPUS_TOO and not onednn_enabled() and (
        keras.mixed_precision.global_policy().compute_dtype == "float32")


def onednn_enabled() -> bool:
    """Whether this process runs TensorFlow's oneDNN CPU kernels: `biobert_tf`'s default on
    x86-64, TensorFlow's own on CPUs with AVX512-VNNI/BF16 or AMX, TF_ENABLE_ONEDNN_OPTS
    when set before TensorFlow loads."""
    # TensorFlow has no public call for this; its own tests use this one.
    from tensorflow.python.util import _pywrap_util_port

    return _pywrap_util_port.IsMklEnabled()
