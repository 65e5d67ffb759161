"""The one UTF-8 line reader: LF, CRLF, CR-only and mixed endings read alike, with the right
line numbers; characters that are not line breaks in these formats stay inside the line."""

import io

import pytest

from biobert_tf.text_files import binary_lines, utf8_lines
from helpers import LINE_ENDINGS, with_line_endings

TEXT = "first\n\nthird\u2028still third\x0b\x0c\x1c\x1d\x1e\x85 too\n  \nlast"


@pytest.mark.parametrize("ending", LINE_ENDINGS)
def test_every_line_ending_reads_like_lf(tmp_path, ending):
    path = tmp_path / "data.txt"
    path.write_bytes(with_line_endings(TEXT, ending))
    assert list(utf8_lines(str(path))) == [
        (1, "first\n"), (2, "\n"), (3, "third\u2028still third\x0b\x0c\x1c\x1d\x1e\x85 too\n"),
        (4, "  \n"), (5, "last")]


@pytest.mark.parametrize("max_bytes", [None, 1, 2, 3, 5])
def test_a_crlf_split_between_reads_is_one_line_end(max_bytes):
    data = b"ab\r\ncd\reee\r\n\r\rf\n"
    pieces = list(binary_lines(io.BytesIO(data), max_bytes))
    assert b"".join(pieces) == b"ab\ncd\neee\n\n\nf\n"
    assert sum(piece.endswith(b"\n") for piece in pieces) == 6
    assert all(len(piece) <= (max_bytes or len(data)) + 1 for piece in pieces)


class _ReaderError(ValueError):
    pass


def test_cr_only_errors_name_the_right_line(tmp_path):
    path = tmp_path / "data.txt"
    path.write_bytes(b"\xef\xbb\xbfok\rok\r\rbad \xff\rok")
    with pytest.raises(_ReaderError, match=f"^{path}:4: not UTF-8"):
        list(utf8_lines(str(path), _ReaderError))
