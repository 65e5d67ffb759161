"""Streaming, constant-memory readers that turn pretraining corpora into documents.

A document is a list of sentences, as google-research/bert `create_pretraining_data.py` needs them,
and the same text as passages with offsets, for tools that write annotations back (`Passage`).
Input formats (`read_documents(path, input_format)`, or `read_items` to get bad documents as items):

- ``text``: Google BERT's format: one sentence per line, a blank line between documents.
- ``lines``: one raw document per line (e.g. one PubMed abstract per line), split into sentences here.
- ``pubmed_xml``: PubMed/MEDLINE citation XML (``PubmedArticleSet``): the title and the abstract.
- ``bioc``: BioC XML (``collection``, as in the PMC OA BioC dumps): the text of every passage.
- ``auto``: a file named ``*.xml`` or ``*.xml.gz`` is read as XML and its root tag picks the format
  (``PubmedArticleSet`` or ``collection``). Any other file is ``text`` when its first 200 lines hold
  at least two blocks of non-blank lines separated by blank lines, one of them two or more lines long;
  otherwise it is ``lines``. (A text file whose first document is longer than 200 lines, or a
  one-document-per-line file with stray blank lines, needs an explicit ``input_format``.)

Passages (`Document.passages`): ``pubmed_xml`` gives a "title" passage at offset 0 and, when the
record has an abstract, an "abstract" passage (its sections joined by one space) at offset
len(title) + 1, as PubTator counts; ``bioc`` gives each passage with its ``<offset>`` and its
``type`` infon as kind; ``text`` and ``lines`` give one "text" passage at offset 0 (a ``text``
document's lines joined by one space). A passage's text is whitespace-collapsed, as the sentences
are, so offsets inside a BioC passage refer to that text, not to the file's. Offsets count code
points (Python ``str`` indices).

Files ending in ``.gz`` are decompressed on the fly. Every problem raises `CorpusError` naming the
file and line; see `read_documents` for what ``skip_bad_documents`` skips. XML must be UTF-8, as
PubMed and BioC files are: another declared encoding (or a UTF-16/32 byte-order mark) is an error,
not a guess (convert such a file first, e.g. ``iconv -f ISO-8859-1 -t UTF-8``).

For ``--input_file`` flags: `expand_input_files` (globs, comma lists) and `parse_weighted_inputs`
(``pubmed/*:0.7,wiki/*:0.3``); `mix_corpora` interleaves weighted corpora and `filter_documents`
keeps a sub-domain (Su & Vijay-Shanker 2022).
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import glob
import gzip
import itertools
import logging
import math
import os
import random
import re
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from biobert_tf.annotation.document import Passage, Span
from biobert_tf.text_files import binary_lines, utf8_lines

logger = logging.getLogger(__name__)

FORMATS = ("auto", "text", "lines", "pubmed_xml", "bioc")

_SNIFF_LINES = 200
_XML_PIECE_BYTES = 1 << 16  # BioC dumps may hold a whole collection on one line: feed bounded pieces
_XML_ROOTS = {"PubmedArticleSet": "pubmed_xml", "collection": "bioc"}
_XML_HEAD_BYTES = 1024  # holds any XML declaration (it must start the file)
_XML_DECLARED_ENCODING = re.compile(rb"<\?xml\s[^>]*?\bencoding\s*=\s*[\"']([^\"'>]*)")
# Encodings read as UTF-8 by the parser itself (expat): any other declared name would go to
# Python's codecs, which turn a wrong declaration into mojibake or a traceback.
_XML_UTF8_NAMES = {"utf-8", "us-ascii"}
_UTF16_32_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)  # LE32 starts as LE16
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)

# PubMed record tag -> paths of its PMID, its title and its abstract sections.
_PUBMED_PATHS = {
    "PubmedArticle": ("MedlineCitation/PMID", "MedlineCitation/Article/ArticleTitle",
                      "MedlineCitation/Article/Abstract/AbstractText"),
    "PubmedBookArticle": ("BookDocument/PMID", "BookDocument/ArticleTitle",
                          "BookDocument/Abstract/AbstractText"),
}


class CorpusError(ValueError):
    """A corpus file that cannot be read as asked; the message names the file and the line."""


@dataclass
class Document:
    """One document: its id, its sentences in order, "file:line" where it starts, and its passages.

    ``sentences == [p.text[s:e] for p in passages for s, e in p.sentences]``.
    """

    doc_id: str
    sentences: list[str]
    source: str
    passages: list[Passage] = field(default_factory=list)


@dataclass
class CorpusStats:
    """What the readers produced and dropped; shared by every file read with it."""

    documents: int = 0
    sentences: int = 0
    empty: int = 0  # records with no text at all (e.g. a PubMed citation with no title nor abstract)
    skipped: int = 0  # bad documents skipped with skip_bad_documents=True
    skip_reasons: list[str] = field(default_factory=list)  # the first MAX_REASONS of them

    MAX_REASONS = 5

    def skip(self, reason: str) -> None:
        self.skipped += 1
        if len(self.skip_reasons) < self.MAX_REASONS:
            self.skip_reasons.append(reason)
            logger.warning("skipped a bad document: %s", reason)

    def __str__(self) -> str:
        text = f"{self.documents} documents, {self.sentences} sentences"
        if self.empty:
            text += f", {self.empty} empty records dropped"
        if self.skipped:
            text += f", {self.skipped} bad documents skipped (first: {'; '.join(self.skip_reasons)})"
        return text


@dataclass(frozen=True)
class BadDocument:
    """A document the reader could not decode: "file:line" of the problem, why, and the document's id
    when it has one. ``str()`` gives "file:line: reason"."""

    source: str
    reason: str
    doc_id: str | None = None

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


def read_items(path: str, input_format: str = "auto") -> Iterator[Document | BadDocument]:
    """Yields every record of one file in order — a `Document`, or a `BadDocument` for one that cannot
    be decoded — reading the file as a stream in constant memory.

    Documents with no text (e.g. a PubMed citation with neither title nor abstract) are yielded too.
    A bad document is a line that is not UTF-8 in ``text``/``lines`` files (the whole document around
    it in ``text``), a PubMed record without a PMID, a BioC document without an id, or a BioC passage
    whose ``<offset>`` is not an integer, is negative or starts inside the previous passage. Damage to
    the file as a whole (a truncated or corrupt gzip stream, malformed XML) raises `CorpusError`.
    """
    if input_format not in FORMATS:
        raise ValueError(f"input_format must be one of {', '.join(FORMATS)}, not {input_format!r}")
    if input_format == "auto":
        input_format = _sniff_format(path)
    if input_format == "text":
        yield from _read_text(path)
    elif input_format == "lines":
        yield from _read_lines(path)
    else:
        yield from _read_xml(path, None if input_format == "xml" else input_format)


def read_documents(path: str, input_format: str = "auto", skip_bad_documents: bool = False,
                   stats: CorpusStats | None = None) -> Iterator[Document]:
    """Yields the documents of one file (`read_items`), reading it as a stream in constant memory.

    Documents with no text are dropped (counted in ``stats.empty``). A bad document (see `read_items`)
    raises `CorpusError`, or with ``skip_bad_documents=True`` is skipped, counted in ``stats.skipped``
    and logged. Damage to the file as a whole (a truncated or corrupt gzip stream, malformed XML)
    always raises `CorpusError`: the documents before the damage have already been yielded and
    counted, and the message says how many.
    """
    stats = stats if stats is not None else CorpusStats()
    count = 0
    try:
        for item in read_items(path, input_format):
            if isinstance(item, BadDocument):
                if not skip_bad_documents:
                    raise CorpusError(f"{item} (--skip_bad_documents skips such documents)")
                stats.skip(str(item))
            elif not item.sentences:
                stats.empty += 1
            else:
                count += 1
                stats.documents += 1
                stats.sentences += len(item.sentences)
                yield item
    except CorpusError as e:
        raise CorpusError(f"{e}; documents read from this file before the error: {count}") from e


def expand_input_files(spec: str) -> list[str]:
    """The files of a comma-separated list of paths and glob patterns, each pattern's matches sorted."""
    files = []
    for pattern in spec.split(","):
        pattern = os.path.expanduser(pattern.strip())
        if not pattern:
            continue
        matches = [p for p in sorted(glob.glob(pattern, recursive=True)) if os.path.isfile(p)]
        if not matches:
            raise FileNotFoundError(f"no input file matches {pattern!r}")
        files.extend(matches)
    if not files:
        raise ValueError(f"no input files given in {spec!r}")
    return files


def parse_weighted_inputs(spec: str) -> list[tuple[str, float]]:
    """Parses ``pubmed/*.xml.gz:0.7,wiki/*.txt:0.3`` into (pattern, weight) pairs; weights default to 1.

    A weight is the text after the last colon of an entry when that text holds no "/" (so
    ``gs://bucket/x`` is a plain pattern); it must be a positive number.
    """
    entries = []
    for entry in spec.split(","):
        entry = entry.strip()
        if not entry:
            continue
        pattern, colon, weight_text = entry.rpartition(":")
        if not colon or "/" in weight_text:
            entries.append((entry, 1.0))
            continue
        try:
            weight = float(weight_text)
        except ValueError:
            raise ValueError(f"weight {weight_text!r} of input {entry!r} is not a number") from None
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"weight of input {entry!r} must be a positive number, not {weight_text}")
        entries.append((pattern, weight))
    if not entries:
        raise ValueError(f"no inputs given in {spec!r}")
    return entries


@dataclass
class DocumentFiles:
    """The documents of some files, read anew on every iteration (a source `mix_corpora` can restart)."""

    paths: list[str]
    input_format: str = "auto"
    skip_bad_documents: bool = False
    stats: CorpusStats | None = None  # counts every pass

    def __iter__(self) -> Iterator[Document]:
        for path in self.paths:
            yield from read_documents(path, self.input_format, self.skip_bad_documents, self.stats)


def mix_corpora(sources: list[tuple[Iterable[Document], float]], seed: int) -> Iterator[Document]:
    """Interleaves documents of several corpora, each one's share of documents proportional to its weight.

    Each next document comes from a source drawn with probability proportional to its weight
    (deterministic for the seed). A source that runs out is read again from its start — epochs over
    the smaller corpora — until every source has been read through at least once; then the mix stops.
    Nothing is left unread, and the weights hold over the whole output (shares of documents, not of
    tokens). Sources must therefore be re-iterable (a list, a `DocumentFiles`), not one-shot iterators.
    """
    if not sources:
        raise ValueError("mix_corpora needs at least one source")
    for index, (source, weight) in enumerate(sources):
        if iter(source) is source:
            raise ValueError(f"source {index} is a one-shot iterator; mix_corpora needs to restart it "
                             "(pass a list or a DocumentFiles)")
        if not (math.isfinite(weight) and weight > 0):
            raise ValueError(f"source {index} has weight {weight}; weights must be positive")
    rng = random.Random(seed)
    indices = range(len(sources))
    cum_weights = list(itertools.accumulate(weight for _, weight in sources))
    iterators = [iter(source) for source, _ in sources]
    read_this_pass = [0] * len(sources)
    read_through = [False] * len(sources)
    while True:
        i = rng.choices(indices, cum_weights=cum_weights)[0]
        doc = next(iterators[i], None)
        if doc is None:
            if not read_this_pass[i]:
                raise ValueError(f"source {i} has no documents")
            read_through[i] = True
            if all(read_through):
                return
            iterators[i], read_this_pass[i] = iter(sources[i][0]), 0
            continue
        read_this_pass[i] += 1
        yield doc


def filter_documents(docs: Iterable[Document], pattern: str | None = None,
                     terms_file: str | None = None) -> Iterator[Document]:
    """Keeps the documents of a sub-domain (Su & Vijay-Shanker 2022): those matching a regex or a term.

    ``pattern`` is a Python regex searched in the document's text (add ``(?i)`` to ignore case).
    ``terms_file`` lists terms one per line; a term matches case-insensitively as whole words
    ("IL-2" matches "IL-2-induced" but not "IL-21"). With both, a document matching either is kept.
    """
    if pattern is None and terms_file is None:
        raise ValueError("filter_documents needs a pattern or a terms_file")
    try:
        regex = re.compile(pattern) if pattern is not None else None
    except re.error as e:  # a re.error is no ValueError: bad input reported as one
        raise ValueError(f"filter pattern {pattern!r} is not a valid regular expression: "
                         f"{e}") from None
    terms = _read_terms(terms_file) if terms_file is not None else set()
    lengths = sorted({len(term) for term in terms})
    for doc in docs:
        text = " ".join(doc.sentences)
        if regex is not None and regex.search(text):
            yield doc
        elif terms:
            # Whole-word lookup of word n-grams in a set: fast however many terms the list has.
            words = _term_words(text)
            if any(tuple(words[i:i + n]) in terms for n in lengths for i in range(len(words) - n + 1)):
                yield doc


# Sentence splitting. pysbd and syntok are maintained and pip-installable, but on the BioASQ abstracts
# they run at 0.15 and 1 MB/s (too slow for a 1 GB corpus on a small machine; these rules: ~20 MB/s)
# and both split "Eq. 3" (pysbd also "approx. 5", "ca. 10", "Figs. 1-2"). A sentence ends at ".",
# "?" or "!" (closing quotes and brackets allowed after it) followed by whitespace, unless the next
# word starts with a lowercase letter ("E. coli", "et al. showed") — lowercase gene-like words
# ("mTORC1", "p53", "siRNA") do start sentences — or the word before a "." is a known abbreviation, a
# dotted abbreviation ("e.g", "i.e", "U.S") or a single capital letter (initials: "J. Smith"). The
# cost of the last rule: "hepatitis B. The" stays one sentence. Decimals ("0.05") have no space after
# the dot.
# Matching is linear in the text's length: the regex finds the punctuation (starting only where a run of
# marks starts, so a line of dots is scanned once) and the word before it is read back to the previous
# whitespace, never further back than the previous candidate.
_CANDIDATE_END = re.compile(r"(?<![.?!])([.?!]+)[\"'”’)\]]*\s+(?=(\S+))")
_ABBREVIATIONS = frozenset("al approx Approx ca cf Cf Dr Eq Eqs Fig Figs fig figs Mr Mrs Ms No Nos Prof "
                           "Ref Refs St Suppl vs Vs".split())
_DOTTED_OR_INITIAL = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]|[A-Z]")
_GENE_LIKE = re.compile(r"[a-z]+[A-Z0-9]")
_OPENERS = "([{\"'“‘"


def split_sentences(text: str) -> list[str]:
    """Splits biomedical prose into sentences with a few rules (see the comment above)."""
    return [text[start:end] for start, end in sentence_spans(text)]


def sentence_spans(text: str) -> list[Span]:
    """The (start, end) spans of `split_sentences`'s sentences in ``text``: end exclusive, without
    leading or trailing whitespace, in order; only whitespace lies outside them."""
    spans = []
    start = 0
    word_start = 0  # a candidate's word starts at or after the end of the previous candidate
    for match in _CANDIDATE_END.finditer(text):
        punct, next_word = match.groups()
        before = text[word_start:match.start()]
        word_start = match.end()
        word = "" if not before or before[-1].isspace() else before.rsplit(None, 1)[-1]
        if not word:  # marks that start their word: the first one is the word ("..." = "." + "..")
            word, punct = punct[0], punct[1:]
            if not punct:  # a lone mark (" . ") ends no sentence
                continue
        if next_word[0].islower() and not _GENE_LIKE.match(next_word):
            continue
        if punct == "." and (word.lstrip(_OPENERS) in _ABBREVIATIONS
                             or _DOTTED_OR_INITIAL.fullmatch(word.lstrip(_OPENERS))):
            continue
        spans.append(_stripped_span(text, start, match.end()))
        start = match.end()
    if text[start:].strip():
        spans.append(_stripped_span(text, start, len(text)))
    return spans


def _stripped_span(text: str, start: int, end: int) -> Span:
    """The span of text[start:end] without its leading and trailing whitespace (it holds non-space)."""
    piece = text[start:end]
    return start + len(piece) - len(piece.lstrip()), start + len(piece.rstrip())


def _joined(pieces: Iterable[tuple[str, Iterable[Span]]]) -> tuple[str, tuple[Span, ...]]:
    """Texts joined by single spaces, with the spans into each text shifted to where it lands."""
    texts, spans, at = [], [], 0
    for text, text_spans in pieces:
        spans.extend((at + start, at + end) for start, end in text_spans)
        texts.append(text)
        at += len(text) + 1
    return " ".join(texts), tuple(spans)


def _document(doc_id: str, source: str, passages: list[Passage]) -> Document:
    """A document whose sentences are those of its passages: the one place the two are tied."""
    sentences = [passage.text[start:end] for passage in passages for start, end in passage.sentences]
    return Document(doc_id, sentences, source, passages)


def _text_passage(text: str, spans: Iterable[Span]) -> Passage:
    return Passage("text", 0, text, tuple(spans))


def _read_terms(path: str) -> set[tuple[str, ...]]:
    return {tuple(words) for _, line in utf8_lines(path, CorpusError) if (words := _term_words(line))}


def _term_words(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]", text.casefold())


def _open_binary(path: str) -> IO[bytes]:
    if not path.endswith(".gz"):
        return open(path, "rb")
    if os.path.getsize(path) == 0:  # Python's gzip reads no bytes as no data; gzip -t fails
        raise CorpusError(f"{path}:1: truncated or corrupt gzip data (the file is empty)")
    return gzip.open(path, "rb")


def _numbered_lines(path: str, max_bytes: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) for each line of a plain or gzipped file, any line ending read as b"\\n";
    lines longer than max_bytes come in pieces."""
    lineno = 1
    with _open_binary(path) as f:
        try:
            for piece in binary_lines(f, max_bytes):
                yield lineno, piece
                lineno += piece.endswith(b"\n")
        except _GZIP_ERRORS as e:
            raise CorpusError(f"{path}:{lineno}: truncated or corrupt gzip data ({e})") from e


def _decode(path: str, lineno: int, raw: bytes) -> str | BadDocument:
    try:
        return raw.decode("utf-8-sig" if lineno == 1 else "utf-8")  # -sig: drop a byte-order mark
    except UnicodeDecodeError as e:
        return BadDocument(f"{path}:{lineno}", f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column "
                           f"{e.start + 1})", f"{path}:{lineno}")


def _sniff_format(path: str) -> str:
    if path.endswith((".xml", ".xml.gz")):
        return "xml"
    block_sizes = [0]  # lengths of the runs of non-blank lines
    with contextlib.closing(_numbered_lines(path)) as lines:
        for _, raw in itertools.islice(lines, _SNIFF_LINES):
            if raw.strip():
                block_sizes[-1] += 1
            elif block_sizes[-1]:
                block_sizes.append(0)
    blocks = [size for size in block_sizes if size]
    return "text" if len(blocks) >= 2 and max(blocks) >= 2 else "lines"


def _read_text(path: str) -> Iterator[Document | BadDocument]:
    start, sentences, bad = 0, [], None
    for lineno, raw in _numbered_lines(path):
        line = _decode(path, lineno, raw)
        if isinstance(line, BadDocument):
            start = start or lineno
            # The rest of this document is skipped with it; the reason names the bad line.
            bad = bad or dataclasses.replace(line, doc_id=f"{path}:{start}")
        elif line.strip():
            start = start or lineno
            sentences.append(line.strip())
        elif start:
            yield bad or _text_document(path, start, sentences)
            start, sentences, bad = 0, [], None
    if start:
        yield bad or _text_document(path, start, sentences)


def _text_document(path: str, start: int, lines: list[str]) -> Document:
    """A ``text`` document: one passage, its lines joined by spaces, each line a sentence."""
    text, spans = _joined((line, [(0, len(line))]) for line in lines)
    return _document(f"{path}:{start}", f"{path}:{start}", [_text_passage(text, spans)])


def _read_lines(path: str) -> Iterator[Document | BadDocument]:
    for lineno, raw in _numbered_lines(path):
        line = _decode(path, lineno, raw)
        if isinstance(line, BadDocument):
            yield line
        elif text := line.strip():
            passage = _text_passage(text, sentence_spans(text))
            yield _document(f"{path}:{lineno}", f"{path}:{lineno}", [passage])


def _read_xml(path: str, expected_format: str | None) -> Iterator[Document | BadDocument]:
    """Documents of a PubMed or BioC XML file; each record is dropped from the tree once read."""
    root, is_bioc = None, False
    depth = 0
    record_line = 0
    for lineno, event, elem in _xml_events(path):
        if root is None:
            root = elem
            wanted = [tag for tag, fmt in _XML_ROOTS.items() if expected_format in (None, fmt)]
            if root.tag not in wanted:
                raise CorpusError(f"{path}:{lineno}: root element is <{root.tag}>, expected <"
                                  + "> or <".join(wanted) + ">")
            is_bioc = _XML_ROOTS[root.tag] == "bioc"
        if event == "start":
            depth += 1
            if depth == 2:
                record_line = lineno
            continue
        depth -= 1
        if depth != 1:  # records are the children of the root
            continue
        source = f"{path}:{record_line}"
        if is_bioc and elem.tag == "document":
            yield _bioc_document(elem, source)
        elif not is_bioc and elem.tag in _PUBMED_PATHS:
            yield _pubmed_document(elem, source)
        root.clear()  # constant memory: forget the records read so far


def _xml_events(path: str) -> Iterator[tuple[int, str, ET.Element]]:
    """(line, "start" or "end", element) for an XML file fed to the parser a bounded piece at a time."""
    _check_xml_encoding(path)
    parser = ET.XMLPullParser(events=("start", "end"))
    lineno = 1
    try:
        # Feeding at most a line at a time tells each element's line (iterparse cannot).
        for lineno, piece in _numbered_lines(path, _XML_PIECE_BYTES):
            parser.feed(piece)
            for event, elem in parser.read_events():
                yield lineno, event, elem
        parser.close()
    except ET.ParseError as e:
        raise CorpusError(f"{path}:{e.position[0]}: malformed XML ({e})") from e
    for event, elem in parser.read_events():
        yield lineno, event, elem


def _check_xml_encoding(path: str) -> None:
    """Raises CorpusError unless the file is UTF-8 XML by its byte-order mark and its declaration."""
    with _open_binary(path) as f:
        try:
            head = f.read(_XML_HEAD_BYTES)
        except _GZIP_ERRORS as e:
            raise CorpusError(f"{path}:1: truncated or corrupt gzip data ({e})") from e
    if head.startswith(_UTF16_32_BOMS):
        raise CorpusError(f"{path}:1: a UTF-16 or UTF-32 byte-order mark; corpus XML must be UTF-8 "
                          "(convert it first)")
    declared = _XML_DECLARED_ENCODING.match(head.removeprefix(codecs.BOM_UTF8))
    if declared and declared[1].decode("latin-1").lower() not in _XML_UTF8_NAMES:
        name = declared[1].decode("latin-1")
        raise CorpusError(f"{path}:1: declares encoding {name!r}; corpus XML must be UTF-8, declared "
                          f'as encoding="UTF-8" or not at all (convert it first, e.g. iconv -f {name} '
                          "-t UTF-8)")


def _pubmed_document(record: ET.Element, source: str) -> Document | BadDocument:
    pmid_path, title_path, abstract_path = _PUBMED_PATHS[record.tag]
    pmid = _element_text(record.find(pmid_path))
    if not pmid:
        return BadDocument(source, f"<{record.tag}> without a PMID")
    title = _element_text(record.find(title_path))
    passages = [Passage("title", 0, title, ((0, len(title)),) if title else ())]  # one sentence
    # Each labelled section (BACKGROUND, METHODS...) is split on its own; the labels are headings.
    sections = [text for elem in record.findall(abstract_path) if (text := _element_text(elem))]
    if sections:
        abstract, spans = _joined((section, sentence_spans(section)) for section in sections)
        # PubTator's offsets: the abstract follows the title and one space, even an empty title.
        passages.append(Passage("abstract", len(title) + 1, abstract, spans))
    return _document(pmid, source, passages)


def _bioc_document(record: ET.Element, source: str) -> Document | BadDocument:
    doc_id = _element_text(record.find("id"))
    if not doc_id:
        return BadDocument(source, "<document> without an <id>")
    passages = []
    for number, elem in enumerate(record.findall("passage"), 1):
        try:
            offset = _passage_offset(elem, passages[-1] if passages else None)
        except ValueError as e:
            return BadDocument(source, f"passage {number}: {e}", doc_id)
        kind = _element_text(elem.find("infon[@key='type']")) or "passage"
        passages.append(Passage(kind, offset, *_bioc_passage_text(elem)))
    return _document(doc_id, source, passages)


def _passage_offset(passage: ET.Element, previous: Passage | None) -> int:
    """A BioC passage's <offset>; without one, one past the previous passage's end (else 0).
    Raises ValueError unless it is an integer >= 0 at or after the previous passage's end."""
    offset = passage.find("offset")
    if offset is None:
        return previous.end + 1 if previous is not None else 0
    text = _element_text(offset)
    if not re.fullmatch(r"-?[0-9]{1,18}", text):  # 18 digits: far beyond any document's length
        raise ValueError(f"<offset> {text[:20]!r} is not an integer")
    value = int(text)
    if value < 0:
        raise ValueError(f"<offset> {value} is negative")
    if previous is not None and value < previous.end:
        raise ValueError(f"<offset> {value} overlaps the previous passage, which ends at {previous.end}")
    return value


def _bioc_passage_text(passage: ET.Element) -> tuple[str, tuple[Span, ...]]:
    """A BioC passage's text and its sentences' spans."""
    text_elem = passage.find("text")
    if text_elem is not None:
        text = _element_text(text_elem)
        return text, tuple(sentence_spans(text))
    # Sentence-level BioC: the passage holds <sentence><text> elements, joined here by spaces.
    texts = (_element_text(sentence.find("text")) for sentence in passage.findall("sentence"))
    return _joined((text, [(0, len(text))]) for text in texts if text)


def _element_text(elem: ET.Element | None) -> str:
    """All the text inside an element, inline markup (<i>, <sup>) included, whitespace collapsed."""
    return " ".join("".join(elem.itertext()).split()) if elem is not None else ""
