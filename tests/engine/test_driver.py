"""driver.check_usage: a command line that cannot do anything, or holds an unusable text, is
one clear error before any work."""

import pytest

from biobert_tf.engine import driver
from biobert_tf.tasks.relation.task import RelationSettings, RelationTask


def usage(**flags) -> None:
    driver.check_usage(RelationTask, RelationSettings(output_dir="out", **flags))


@pytest.mark.parametrize("text, message", [
    ("", "--predict_text is empty"),
    ("   ", "--predict_text is empty"),
    # Bytes that are not UTF-8 reach Python's argv as lone surrogates.
    ("@GENE$ binds \udcff @DISEASE$", "--predict_text: not UTF-8 at character 14"),
])
def test_an_unusable_predict_text_is_one_clear_error(text, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        usage(predict_text=text)


def test_a_command_line_with_nothing_to_do_says_what_would_do_something():
    with pytest.raises(ValueError, match="nothing to do: set --do_train, .*--predict_text"):
        usage()
    usage(predict_text="@GENE$ variants raise @DISEASE$ risk.")
