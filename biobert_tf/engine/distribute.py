"""Distribution strategy and mixed precision, chosen by flags; the only TPU-specific code.

Everything else (model, loop, checkpoints) is the same for every strategy.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from absl import logging

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu")
PRECISIONS = ("none", "bfloat16", "float16")


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


def set_mixed_precision(precision: str) -> None:
    """Keras dtype policy: compute in bfloat16 (TPU, recent CPUs) or float16 (GPU), variables
    in float32. float16 also needs loss scaling, which the training loop adds."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (expected one of {', '.join(PRECISIONS)})")
    keras.mixed_precision.set_global_policy("float32" if precision == "none"
                                            else f"mixed_{precision}")
