"""Settings declared once: dataclass fields become absl flags with the same names, defaults,
types and help, and come back from the parsed command line."""

import dataclasses
import re

import pytest
from absl import flags

from biobert_tf.engine import settings
from biobert_tf.engine.settings import FineTuningSettings, option


@dataclasses.dataclass
class Example(FineTuningSettings):
    head: str = option("cls", "The head.", choices=("cls", "sll_att"))
    placeholders: tuple[str, ...] = option(("@E1$", "@E2$"), "Two placeholders.")
    max_seq_length: int = option(384, "Redeclared: another default.")
    rate: float = option(0.5, "A float.")


def parse(*args) -> flags.FlagValues:
    values = flags.FlagValues()
    settings.define_flags(Example, values)
    values(["prog", *args])
    return values


def test_every_field_is_a_flag_with_its_default_and_help():
    values = parse()
    for field in settings.fields(Example):
        flag = values[field.name]
        default = settings.default_of(field)
        assert flag.default == (list(default) if isinstance(default, tuple) else default)
        assert flag.help.endswith(field.metadata["help"])  # enums prefix their choices
    assert values["max_seq_length"].default == 384
    assert values["head"].parser.enum_values == ["cls", "sll_att"]


def test_from_flags_reads_the_command_line_and_knows_what_was_given():
    values = parse("--do_lower_case=false", "--head=sll_att", "--placeholders=@A$,@B$",
                   "--rate=0.25", "--output_dir=out")
    parsed = settings.from_flags(Example, values)
    assert parsed == Example(do_lower_case=False, head="sll_att", placeholders=("@A$", "@B$"),
                             rate=0.25, output_dir="out")
    assert settings.given(Example, values) == {"do_lower_case", "head", "placeholders", "rate",
                                               "output_dir"}
    assert settings.from_flags(Example, parse()) == Example()


def test_a_bad_value_is_refused_by_the_flag_parser():
    with pytest.raises(flags.IllegalFlagValueError, match="head"):
        parse("--head=nope")


@pytest.mark.parametrize("flag, message", [
    ("--train_batch_size=0", "0 is not a positive integer"),
    ("--predict_batch_size=-8", "-8 is not a positive integer"),
    ("--num_train_epochs=-1", "-1.0 is not a non-negative number"),
    # Redeclared with another default, the field keeps its base's bound.
    ("--max_seq_length=2", "2 is not integer >= 3"),
])
def test_a_number_below_its_minimum_is_refused(flag, message):
    with pytest.raises(flags.IllegalFlagValueError, match=re.escape(message)):
        parse(flag)
    assert parse("--num_train_epochs=0", "--max_seq_length=3").max_seq_length == 3


def test_a_shared_flag_redefined_with_another_default_is_an_error():
    values = flags.FlagValues()
    settings.define_flags(Example, values)

    @dataclasses.dataclass
    class Other(FineTuningSettings):
        pass

    with pytest.raises(ValueError, match="max_seq_length"):
        settings.define_flags(Other, values)
