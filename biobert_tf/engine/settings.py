"""Settings declared once: a dataclass field (name, default, help) becomes an absl flag.

Every command line of biobert-tf is a settings dataclass; `define_flags` turns its fields into
absl flags with the same names and defaults (BioBERT's and Google's, so their command lines
run unchanged), and `from_flags` reads them back into the dataclass. A script that wants
another default declares a subclass with the field redeclared, so a flag and its field cannot
disagree. The flags are registered as key flags of the main module, so `--help` lists the
script's own and the shared settings, not TensorFlow's internals.

    @dataclasses.dataclass
    class MySettings(FineTuningSettings):
        head: str = option("cls", "The classifier input.", choices=("cls", "sll_att"))

    settings.define_flags(MySettings)          # at import of the run script
    values = settings.from_flags(MySettings)   # in main()
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from typing import Any, Sequence, TypeVar

from absl import flags

from biobert_tf.annotation import formats

T = TypeVar("T")

HELP, CHOICES, MINIMUM = "help", "choices", "minimum"


def option(default: Any, help: str, *, choices: Sequence[str] | None = None,
           minimum: float | None = None) -> Any:
    """A settings field: its default, the help text of its flag and, for an enum, the choices;
    for a number, the least value its flag accepts."""
    metadata = {HELP: help, CHOICES: tuple(choices) if choices else None, MINIMUM: minimum}
    if isinstance(default, (list, tuple)):
        return dataclasses.field(default_factory=lambda: tuple(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def fields(cls: type) -> list[dataclasses.Field]:
    """The fields of a settings class that are flags (those declared with `option`)."""
    return [f for f in dataclasses.fields(cls) if HELP in f.metadata]


def _base_type(cls: type, field: dataclasses.Field) -> type:
    """bool, int, float, str or tuple, with `X | None` unwrapped."""
    hint = typing.get_type_hints(cls)[field.name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return typing.get_origin(hint) or hint


def _minimum(cls: type, name: str) -> float | None:
    """The least value of field `name`, from its nearest declaration that gives one: a field
    redeclared with another default keeps its base's bound."""
    for klass in cls.__mro__:
        declared = getattr(klass, "__dataclass_fields__", {}).get(name)
        if declared is not None and declared.metadata.get(MINIMUM) is not None:
            return declared.metadata[MINIMUM]
    return None


def default_of(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def define_flags(cls: type, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines an absl flag for every field of `cls` (skipping ones already defined with the
    same default, so two classes may share a base) as key flags of the main module."""
    main_module = sys.argv[0]
    for field in fields(cls):
        default, help_text = default_of(field), field.metadata[HELP]
        if field.name in flag_values:
            existing = flag_values[field.name].default
            if existing != (list(default) if isinstance(default, tuple) else default):
                raise ValueError(f"flag --{field.name} is already defined with default "
                                 f"{existing!r}, not {default!r}")
        else:
            kind, choices = _base_type(cls, field), field.metadata[CHOICES]
            minimum = _minimum(cls, field.name)
            if choices:
                flags.DEFINE_enum(field.name, default, list(choices), help_text,
                                  flag_values=flag_values)
            elif kind is bool:
                flags.DEFINE_bool(field.name, default, help_text, flag_values=flag_values)
            elif kind is int:
                flags.DEFINE_integer(field.name, default, help_text, lower_bound=minimum,
                                     flag_values=flag_values)
            elif kind is float:
                flags.DEFINE_float(field.name, default, help_text, lower_bound=minimum,
                                   flag_values=flag_values)
            elif kind is tuple:
                flags.DEFINE_list(field.name, list(default), help_text, flag_values=flag_values)
            elif kind is str:
                flags.DEFINE_string(field.name, default, help_text, flag_values=flag_values)
            else:
                raise TypeError(f"{cls.__name__}.{field.name}: no flag type for {kind}")
        flag_values.register_key_flag_for_module(main_module, flag_values[field.name])


def from_flags(cls: type[T], flag_values: flags.FlagValues = flags.FLAGS, **overrides) -> T:
    """The settings the parsed flags hold (`overrides` replace some)."""
    values = {}
    for field in fields(cls):
        value = flag_values[field.name].value
        values[field.name] = tuple(value) if isinstance(value, list) else value
    values.update(overrides)
    return cls(**values)


def given(cls: type, flag_values: flags.FlagValues = flags.FLAGS) -> frozenset[str]:
    """The fields of `cls` whose flags were set on the command line (not left at default)."""
    return frozenset(f.name for f in fields(cls) if flag_values[f.name].present)


@dataclasses.dataclass
class RuntimeSettings:
    """Where and how to run: Google's TPU flags, our strategy, precision and XLA settings."""

    use_tpu: bool = option(False, "Use a TPU (as --distribution_strategy=tpu).")
    tpu_name: str | None = option(None, "The Cloud TPU to use.")
    tpu_zone: str | None = option(None, "GCE zone of the Cloud TPU.")
    gcp_project: str | None = option(None, "Project of the Cloud TPU.")
    master: str | None = option(None, "TensorFlow master URL (a TPU address; as --tpu_name).")
    num_tpu_cores: int = option(8, "Only for Google/BioBERT-flag compatibility: the TPU "
                                "strategy uses every core of its TPU.")
    distribution_strategy: str = option(
        "default", "default, one_device, mirrored (local GPUs), multi_worker_mirrored (hosts "
        "in TF_CONFIG) or tpu.",
        choices=("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu"))
    mixed_precision: str = option(
        "auto", "Compute precision: bfloat16, float16 (with loss scaling) or none (float32); "
        "auto: bfloat16 on TPUs, Ampere+ GPUs and CPUs with AVX512-BF16/AMX, float16 on older "
        "GPUs, else none.", choices=("auto", "none", "bfloat16", "float16"))
    jit_compile: bool | None = option(
        None, "XLA-compile the forward and backward pass (fine-tuning batches then padded to "
        "multiples of 32). Default: on TPUs (always) and GPUs; on CPUs for pretraining in "
        "float32 only (where it was measured faster); never for BiLSTM models. The optimizer's "
        "update and the BERT layers' GELU and LayerNorms are compiled on their own unless "
        "--nojit_compile: no XLA at all.")


@dataclasses.dataclass
class LoopSettings(RuntimeSettings):
    """The shared loop's settings (BioBERT's names and defaults)."""

    output_dir: str | None = option(None, "Where checkpoints, results and predictions go.")
    do_train: bool = option(False, "Train.")
    train_batch_size: int = option(32, "Global training batch size.", minimum=1)
    eval_batch_size: int = option(8, "Global evaluation batch size.", minimum=1)
    learning_rate: float = option(5e-5, "Peak learning rate of the optimizer.")
    optimizer: str = option("adamw", "adamw: Google BERT's Adam with weight decay; lamb: LAMB "
                            "(You et al. 2019) for large batches.", choices=("adamw", "lamb"))
    gradient_accumulation_steps: int = option(
        1, "Micro-batches each replica's batch is cut into, run one after another with their "
        "gradients summed: the update of the whole batch in the memory of one micro-batch.",
        minimum=1)
    save_checkpoints_steps: int = option(1000, "Steps between checkpoints.", minimum=1)
    iterations_per_loop: int = option(1000, "Steps between metric lines and TensorBoard "
                                      "summaries (and per host call on TPU).", minimum=1)
    keep_checkpoint_max: int = option(2, "Checkpoints kept in --output_dir (at least 2: "
                                      "the newest is known good only once the loss after it "
                                      "is seen).", minimum=1)
    seed: int = option(42, "Seed of the model's init, dropout and data order.")


@dataclasses.dataclass
class TrainingSettings(LoopSettings):
    """Training counted in epochs over an in-memory data set (fine-tuning, the BiLM)."""

    num_train_epochs: float = option(3.0, "Training epochs (rounded up to whole epochs).",
                                     minimum=0.0)
    warmup_proportion: float = option(0.1, "Share of the steps with linear learning-rate "
                                      "warmup.")


@dataclasses.dataclass
class FineTuningSettings(TrainingSettings):
    """BioBERT's fine-tuning flags (run_ner, run_re, run_qa) and ours."""

    data_dir: str | None = option(None, "Directory with the task's train/dev/test files.")
    tfds_name: str | None = option(
        None, "Instead of --data_dir: a TFDS data set, prepared from BioBERT's files on first "
        "use (biobert_ner/ncbi_disease, biobert_re/gad_fold1, ...); the file flags name "
        "its splits as they name files.")
    tfds_data_dir: str | None = option(None, "Where TFDS keeps prepared data sets (TFDS's "
                                       "default: ~/tensorflow_datasets).")
    tfds_manual_dir: str | None = option(
        None, "The datasets/ folder of BioBERT's release (NER/, RE/, QA/) that --tfds_name "
        "is prepared from (default: TFDS's downloads/manual in --tfds_data_dir).")
    bert_config_file: str | None = option(
        None, "bert_config.json (default: the config beside --init_checkpoint).")
    vocab_file: str | None = option(None, "vocab.txt (default: the one beside "
                                    "--init_checkpoint).")
    init_checkpoint: str | None = option(
        None, "A Google/BioBERT TF1 checkpoint prefix, a HuggingFace directory, a keras-hub "
        "preset directory, or the --output_dir of an earlier fine-tuning run.")
    do_lower_case: bool = option(True, "Lower-case the input (False for cased models such as "
                                 "BioBERT). Saved with a trained model.")
    max_seq_length: int = option(128, "Wordpieces per model window, [CLS]/[SEP] included. "
                                 "Saved with a trained model.", minimum=3)
    do_eval: bool = option(False, "Evaluate on the dev set.")
    do_predict: bool = option(False, "Predict (and score) the test set.")
    predict_batch_size: int = option(8, "Global prediction batch size.", minimum=1)
    early_stopping_patience: int = option(
        0, "With a dev file: evaluate after every epoch, keep the best epoch's weights and "
        "stop after this many epochs without a dev gain (0: no per-epoch evaluation).")
    export_dir: str | None = option(None, "Also write a SavedModel that takes raw text here.")
    predict_text: str | None = option(None, "Raw text to predict: printed, and written to "
                                      "text_predictions.jsonl.")
    predict_file: str | None = option(None, "A raw-text file, one document per line, streamed "
                                      "with progress into file_predictions.jsonl; an "
                                      "interrupted run resumes where it stopped.")
    predict_format: str = option(
        "jsonl", "The format of --predict_file's output besides file_predictions.jsonl: for "
        "NER and RE also pubtator or bioc_json (file_predictions.pubtator, "
        "file_predictions.bioc.json; rendered from the jsonl, so changing the format "
        "predicts nothing again).", choices=tuple(formats.FORMATS))
