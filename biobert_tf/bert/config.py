"""BERT hyper-parameters: Google's `bert_config.json` and HuggingFace's `config.json`.

One `BertConfig` describes the encoder whichever format it came from. The only
semantic trap between the two formats is GELU: Google's `"gelu"` is the tanh
approximation, HuggingFace's `"gelu"` is the exact erf form (its tanh form is
`"gelu_new"`). We keep the distinction internally (`gelu` vs `gelu_exact`) so a
model converted from either side computes exactly what it computed before.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from biobert_tf import json_files

# Internal activation names. "gelu" is Google BERT's tanh approximation.
ACTIVATIONS = ("gelu", "gelu_exact", "relu", "tanh", "linear")

_HF_TO_INTERNAL_ACT = {
    "gelu": "gelu_exact",
    "gelu_new": "gelu",
    "gelu_pytorch_tanh": "gelu",
    "gelu_fast": "gelu",
    "relu": "relu",
    "tanh": "tanh",
    "linear": "linear",
}
_INTERNAL_TO_HF_ACT = {"gelu": "gelu_new", "gelu_exact": "gelu", "relu": "relu",
                       "tanh": "tanh", "linear": "linear"}

# Key we add to a Google-format json when the activation is the exact GELU.
# Google's own code ignores unknown keys, so the file stays readable there.
EXACT_GELU_KEY = "gelu_exact"


class ConfigError(ValueError):
    """A config file is unreadable, incomplete or inconsistent."""


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Hyper-parameters of a BERT encoder, named as in Google's `bert_config.json`."""

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02

    def __post_init__(self):
        problems = []
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "intermediate_size", "max_position_embeddings", "type_vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not json_files.is_number(value) or not 0.0 <= value < 1.0:
                problems.append(f"{name} must be in [0, 1), got {value!r}")
        if (not json_files.is_number(self.initializer_range)
                or not 0 < self.initializer_range < math.inf):
            problems.append(f"initializer_range must be a positive finite number, "
                            f"got {self.initializer_range!r}")
        if not isinstance(self.hidden_act, str) or self.hidden_act not in ACTIVATIONS:
            problems.append(f"hidden_act {self.hidden_act!r} is not supported "
                            f"(supported: {', '.join(ACTIVATIONS)})")
        if (not problems and self.hidden_size % self.num_attention_heads):
            problems.append(f"hidden_size {self.hidden_size} is not a multiple of "
                            f"num_attention_heads {self.num_attention_heads}")
        if problems:
            raise ConfigError("invalid BERT config: " + "; ".join(problems))

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    # ---- Google format -------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> "BertConfig":
        """Builds a config from a Google-format dict; unknown keys are ignored as Google does."""
        values = dict(values)
        if values.pop(EXACT_GELU_KEY, False) and values.get("hidden_act") == "gelu":
            values["hidden_act"] = "gelu_exact"
        known = {f.name for f in dataclasses.fields(cls)}
        if "vocab_size" not in values:
            raise ConfigError(f"{source}: missing required key 'vocab_size'")
        try:
            return cls(**{k: v for k, v in values.items() if k in known})
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None

    @classmethod
    def from_json_file(cls, path: str) -> "BertConfig":
        """Reads Google's `bert_config.json` (or, if it looks like one, HF's `config.json`)."""
        values = read_json_object(path)
        if _looks_like_hf(values):
            return cls.from_hf_dict(values, source=path)
        return cls.from_dict(values, source=path)

    def to_dict(self) -> dict[str, Any]:
        """Google-format dict (exact GELU is written as "gelu" plus a marker key)."""
        values = dataclasses.asdict(self)
        if self.hidden_act == "gelu_exact":
            values["hidden_act"] = "gelu"
            values[EXACT_GELU_KEY] = True
        return values

    def to_json_file(self, path: str) -> None:
        _write_json(path, self.to_dict())

    # ---- HuggingFace format --------------------------------------------------------
    @classmethod
    def from_hf_dict(cls, values: dict[str, Any], source: str = "config.json") -> "BertConfig":
        model_type = values.get("model_type", "bert")
        if model_type != "bert":
            raise ConfigError(f"{source}: model_type {model_type!r} is not a BERT model")
        if values.get("position_embedding_type", "absolute") != "absolute":
            raise ConfigError(f"{source}: position_embedding_type "
                              f"{values['position_embedding_type']!r} is not supported (only 'absolute')")
        eps = values.get("layer_norm_eps", 1e-12)
        if not json_files.is_number(eps) or not abs(eps - 1e-12) <= 1e-15:
            raise ConfigError(f"{source}: layer_norm_eps {eps!r} differs from BERT's 1e-12")
        act = values.get("hidden_act", "gelu")
        if not isinstance(act, str) or act not in _HF_TO_INTERNAL_ACT:
            raise ConfigError(f"{source}: hidden_act {act!r} is not supported "
                              f"(supported: {', '.join(_HF_TO_INTERNAL_ACT)})")
        google = {k: v for k, v in values.items() if k != "hidden_act"}
        google["hidden_act"] = _HF_TO_INTERNAL_ACT[act]
        return cls.from_dict(google, source=source)

    def to_hf_json_file(self, path: str) -> None:
        _write_json(path, self.to_hf_dict())

    def to_hf_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["hidden_act"] = _INTERNAL_TO_HF_ACT[self.hidden_act]
        values.update(model_type="bert", layer_norm_eps=1e-12, position_embedding_type="absolute",
                      pad_token_id=0, architectures=["BertForPreTraining"])
        return values


def _looks_like_hf(values: dict[str, Any]) -> bool:
    return "model_type" in values or "architectures" in values or "layer_norm_eps" in values


def read_json_object(path: str) -> dict[str, Any]:
    """The JSON object in a config file; a `ConfigError` naming the file for anything else.

    A number too large for a float reads as infinity, for the range checks to name the setting.
    """
    return json_files.load(path, ConfigError, allow_overflow=True).value


def _write_json(path: str, values: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(values, f, indent=2, sort_keys=True)
        f.write("\n")

