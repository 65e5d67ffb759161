"""Reading text files line by line: every line ending (LF, CRLF, CR) read as LF, errors naming `path:line`."""

from collections.abc import Iterator
from typing import IO

_CHUNK_BYTES = 1 << 16  # reads are bounded, so a file with no b"\n" (CR-only) is not read whole at once


def binary_lines(f: IO[bytes], max_bytes: int | None = None) -> Iterator[bytes]:
    """The lines of a binary stream, split at b"\\n", b"\\r\\n" or a lone b"\\r", each ending in b"\\n".

    Only these three are line ends: U+2028, U+0085, \\x0b, \\x0c and friends stay inside the line
    (unlike `str.splitlines`). The last line has no b"\\n" when the file does not end with one.
    With `max_bytes`, a longer line comes in pieces of at most `max_bytes` + 1 bytes, only its last
    piece ending in b"\\n" (so callers count lines by the pieces that end in one).
    """
    after_cr = False  # the previous chunk ended with b"\r": a b"\n" right after it belongs to it
    unfinished: list[bytes] = []  # chunks of a line whose end is not read yet
    # Without max_bytes, blocks: one read and one split serve many lines (a `readline` per
    # line cost several µs a line in the pretraining-data tool's reading). `read1` returns what
    # is decoded so far, so the lines before a truncated gzip stream's end still come out.
    while chunk := (f.readline(max_bytes) if max_bytes else f.read1(_CHUNK_BYTES)):
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        after_cr = chunk.endswith(b"\r")
        *ended, rest = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        for part in ended:
            unfinished.append(part)
            yield b"".join(unfinished) + b"\n"
            unfinished = []
        if rest and max_bytes:
            yield rest
        elif rest:
            unfinished.append(rest)
    if unfinished:
        yield b"".join(unfinished)


def utf8_lines(path: str, error: type[ValueError] = ValueError) -> Iterator[tuple[int, str]]:
    """(1-based line number, decoded line ending in "\\n" but for a last line without one).

    Lines are split as `binary_lines` does, so CRLF and CR-only files read exactly like LF ones
    and line numbers are right for every ending. A UTF-8 BOM is dropped. Invalid UTF-8 raises
    `error` naming the file, line and byte.
    """
    with open(path, "rb") as f:
        for number, raw in enumerate(binary_lines(f), start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise error(f"{path}:{number}: not UTF-8 ({e.reason} at byte {e.start} of "
                            "the line)") from None
