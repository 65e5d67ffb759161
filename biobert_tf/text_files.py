"""Reading UTF-8 text files line by line with errors that name `path:line`."""

from collections.abc import Iterator


def utf8_lines(path: str, error: type[ValueError] = ValueError) -> Iterator[tuple[int, str]]:
    """(1-based line number, decoded line with its line end); a UTF-8 BOM is dropped.

    Bytes are split on b"\\n" only, so U+2028, U+0085 and friends inside a line do not split
    it. Invalid UTF-8 raises `error` naming the file, line and byte.
    """
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise error(f"{path}:{number}: not UTF-8 ({e.reason} at byte {e.start} of "
                            "the line)") from None
