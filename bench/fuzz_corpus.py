"""Fuzzing the pretraining corpus readers with mutations of real files; every outcome counted.

    python bench/fuzz_corpus.py [--cases 2000] [--abstracts 6] [--seed 0]

Each reader gets a clean file made of real PubMed abstracts (../shared/data/corpus/
bioasq_abstracts.txt): ``lines`` (one abstract per line, as the file is), ``text`` (Google's
format, sentences split by our splitter), ``pubmed_xml`` and ``bioc`` (the abstracts as PubMed
citations and BioC documents, as NCBI writes them) and ``text.gz`` (the text file gzipped).
Each case applies one random mutation to the clean file and reads it with
`corpus.read_documents`. A mutation says what a correct reader does with it:

- ``same``: the documents of the clean file (line endings CRLF, CR or mixed; a UTF-8 BOM;
  an explicit UTF-8 declaration in XML);
- ``error``: a `CorpusError` (invalid UTF-8 inserted; an XML declaration of another encoding;
  a gzip stream cut short);
- ``any``: documents or a `CorpusError` (bytes flipped, the file cut short, NUL bytes).

Outcomes: ``read`` (documents, as expected), ``clear error`` (a one-line `CorpusError` naming
the file), ``unclear error`` (a `CorpusError` without the file's name, or on several lines),
``raw traceback`` (any other exception), ``silent misread`` (documents where ``same`` wanted
the clean file's and got others, or where ``error`` wanted an error). A correct reader has no
cases in the last three. tests/tfrecords_tools/test_corpus_fuzz.py runs the same mutations
under hypothesis.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import pathlib
import random
import sys
import tempfile
import time
from xml.sax.saxutils import escape

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tfrecords_tools.corpus import CorpusError, read_documents, split_sentences  # noqa: E402

CORPUS = REPO.parent / "shared" / "data" / "corpus" / "bioasq_abstracts.txt"
READERS = {"lines": "c.txt", "text": "c.txt", "pubmed_xml": "c.xml", "bioc": "c.xml",
           "text.gz": "c.txt.gz"}  # reader -> file name (the format is the reader's, ".gz" aside)
OUTCOMES = ("read", "clear error", "unclear error", "raw traceback", "silent misread")
_INVALID_UTF8 = [b"\xff", b"\xc3(", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80",
                 b"\xe2\x82"]
_OTHER_ENCODINGS = ["ISO-8859-1", "latin-1", "x-nope", "UTF-16", "utf-16-le", "utf-32", "cp037",
                    "rot13", "base64", "punycode", "idna", "undefined", "utf8", "shift_jis", "",
                    "windows-1252", "unicode_escape"]
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def clean_files(abstracts: list[str]) -> dict[str, bytes]:
    """Each reader's clean file (uncompressed: "text.gz" is gzipped after mutating)."""
    documents = [split_sentences(abstract) for abstract in abstracts]
    text = "\n\n".join("\n".join(sentences) for sentences in documents) + "\n"
    citations = "".join(
        f"<PubmedArticle><MedlineCitation Status=\"MEDLINE\" Owner=\"NLM\">\n"
        f"<PMID Version=\"1\">{1000 + i}</PMID>\n<Article PubModel=\"Print\">\n"
        f"<ArticleTitle>{escape(sentences[0])}</ArticleTitle>\n<Abstract>\n"
        f"<AbstractText>{escape(' '.join(sentences[1:]))}</AbstractText>\n</Abstract>\n"
        "</Article>\n</MedlineCitation>\n</PubmedArticle>\n"
        for i, sentences in enumerate(documents))
    passages = "".join(
        f"<document><id>PMC{1000 + i}</id>\n<passage><infon key=\"type\">title</infon>"
        f"<offset>0</offset><text>{escape(sentences[0])}</text></passage>\n<passage><offset>"
        f"{len(sentences[0]) + 1}</offset><text>{escape(' '.join(sentences[1:]))}</text></passage>\n</document>\n"
        for i, sentences in enumerate(documents))
    return {
        "lines": "".join(abstract + "\n" for abstract in abstracts).encode(),
        "text": text.encode(),
        "text.gz": text.encode(),
        "pubmed_xml": (f'{_DECLARATION}\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, '
                       f'1st January 2024//EN" "pubmed.dtd">\n<PubmedArticleSet>\n{citations}'
                       "</PubmedArticleSet>\n").encode(),
        "bioc": (f'{_DECLARATION}\n<!DOCTYPE collection SYSTEM "BioC.dtd">\n<collection><source>PubMed'
                 f"</source><date>20240101</date><key>key</key>\n{passages}</collection>\n").encode(),
    }


def mutations(reader: str) -> list[str]:
    kinds = ["crlf", "cr", "mixed_endings", "bom", "invalid_utf8", "byte_flips", "truncate", "nul"]
    if reader in ("pubmed_xml", "bioc"):
        kinds += ["utf8_declaration", "other_encoding"]
    if reader == "text.gz":
        kinds += ["gzip_cut", "gzip_flips"]
    return kinds


def mutate(data: bytes, kind: str, rng: random.Random) -> tuple[bytes, str]:
    """The mutated file (not yet gzipped) and what a reader must do with it: same/error/any."""
    if kind in ("crlf", "cr", "mixed_endings"):
        endings = {"crlf": [b"\r\n"], "cr": [b"\r"], "mixed_endings": [b"\n", b"\r\n", b"\r"]}[kind]
        out, previous = [], b""
        for line in data.split(b"\n")[:-1]:
            # CR, then an empty line's LF, would be one CRLF: one line less, not a mutation of endings.
            allowed = [e for e in endings if not (previous == b"\r" and not line and e == b"\n")]
            previous = rng.choice(allowed)
            out.append(line + previous)
        return b"".join(out), "same"
    if kind == "bom":
        return b"\xef\xbb\xbf" + data, "same"
    if kind == "utf8_declaration":
        return data.replace(b'"UTF-8"', rng.choice([b'"utf-8"', b"'UTF-8'", b'"Utf-8"']), 1), "same"
    if kind == "other_encoding":
        name = rng.choice(_OTHER_ENCODINGS).encode()
        return data.replace(b'"UTF-8"', b'"' + name + b'"', 1), "error"
    if kind == "invalid_utf8":
        at = rng.randrange(len(data))
        return data[:at] + rng.choice(_INVALID_UTF8) + data[at:], "error"
    if kind in ("byte_flips", "gzip_flips"):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        return bytes(flipped), "any"
    if kind in ("truncate", "gzip_cut"):
        return data[:rng.randrange(len(data))], "error" if kind == "gzip_cut" else "any"
    if kind == "nul":
        at = rng.randrange(len(data))
        return data[:at] + b"\x00" * rng.randint(1, 3) + data[at:], "any"
    raise ValueError(f"unknown mutation {kind!r}")


def mutated_file(reader: str, clean: bytes, kind: str, rng: random.Random) -> tuple[bytes, str]:
    """The bytes on disk of a mutated file and the expectation (gzip mutations after gzipping)."""
    gzipped = reader.endswith(".gz")
    if kind.startswith("gzip_"):
        return mutate(gzip.compress(clean, mtime=0), kind, rng)
    data, expected = mutate(clean, kind, rng)
    return (gzip.compress(data, mtime=0) if gzipped else data), expected


def read(path: str, reader: str) -> list[tuple]:
    """The documents of a file, without the file's path (so that two files compare)."""
    input_format = reader.removesuffix(".gz")
    return [(d.doc_id.replace(path, ""), d.sentences, d.source.replace(path, ""))
            for d in read_documents(path, input_format)]


def outcome(path: str, reader: str, expected: str, clean_documents: list[tuple]) -> str:
    """What reading the mutated file at `path` did, one of OUTCOMES."""
    try:
        documents = read(path, reader)
    except CorpusError as e:
        return "clear error" if path in str(e) and "\n" not in str(e) else "unclear error"
    except Exception:  # noqa: BLE001 (what this bench counts)
        return "raw traceback"
    if expected == "error" or (expected == "same" and documents != clean_documents):
        return "silent misread"
    return "read"


def real_abstracts(count: int, offset: int = 0) -> list[str]:
    with open(CORPUS, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[offset:offset + count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=2000, help="mutations per reader")
    parser.add_argument("--abstracts", type=int, default=6, help="abstracts in each clean file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"{args.cases} mutations per reader of files of {args.abstracts} real abstracts")
    print(f"{'reader':12}" + "".join(f"{name:>16}" for name in OUTCOMES) + f"{'seconds':>9}")
    with tempfile.TemporaryDirectory() as workdir:
        for reader, data in clean_files(real_abstracts(args.abstracts)).items():
            path = str(pathlib.Path(workdir) / READERS[reader])
            pathlib.Path(path).write_bytes(gzip.compress(data) if reader.endswith(".gz") else data)
            clean_documents = read(path, reader)
            counts, examples = collections.Counter(), {}
            started = time.perf_counter()
            for _ in range(args.cases):
                kind = rng.choice(mutations(reader))
                mutated, expected = mutated_file(reader, data, kind, rng)
                pathlib.Path(path).write_bytes(mutated)
                result = outcome(path, reader, expected, clean_documents)
                counts[result] += 1
                if result not in ("read", "clear error"):
                    examples.setdefault(result, kind)
            seconds = time.perf_counter() - started
            print(f"{reader:12}" + "".join(f"{counts[name]:>16}" for name in OUTCOMES)
                  + f"{seconds:>9.1f}")
            for result, kind in examples.items():
                print(f"    first {result}: a {kind} mutation")


if __name__ == "__main__":
    main()
