"""PubTator and BioC JSON outputs of entity predictions: read back by strict parsers, every
offset slices the document to its mention; written through predict_file, resumed after an
interruption to the same bytes."""

import io
import json
import re

import pytest

from biobert_tf.engine import prediction_formats
from biobert_tf.engine.file_prediction import predict_file
from helpers import parse_pubtator

# Non-ASCII (ï, α, an emoji beyond U+FFFF), a tab and a line separator inside the text.
TEXTS = ["Naïve T cells\tin α-thalassemia\u2028patients 😀 with BRCA1 mutations.",
         "No entity here.",
         "BRCA1 and BRCA2 carriers have breast cancer."]
MENTIONS = {"α-thalassemia": "Disease", "thalassemia": "Disease", "BRCA1": "Gene",
            "BRCA2": "Gene", "breast cancer": "Disease", "cancer": "Disease"}


def tag(texts):
    """A stand-in NER predictor: every listed mention, overlaps included, as the tagger's
    results (`tag_texts`)."""
    return [{"text": text, "entities": sorted(
        ({"start": m.start(), "end": m.end(), "type": kind, "score": 0.9, "text": m.group()}
         for mention, kind in MENTIONS.items() for m in re.finditer(re.escape(mention), text)),
        key=lambda e: (e["start"], e["end"]))} for text in texts]


def records(texts=TEXTS):
    return [{"line": number, **result} for number, result in zip((1, 2, 4), tag(texts))]


def rendered(output_format, tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records()),
                    encoding="utf-8")
    out = io.StringIO()
    prediction_formats.render(str(path), out, output_format)
    return out.getvalue()


def test_pubtator_offsets_slice_title_space_abstract(tmp_path):
    documents = parse_pubtator(rendered("pubtator", tmp_path))
    assert [d[0] for d in documents] == ["1", "2", "4"]
    for (doc_id, text, mentions), record in zip(documents, records()):
        # The empty title and its space come first; tabs and line breaks became spaces.
        assert text == " " + re.sub("[\t\u2028]", " ", record["text"])
        assert [(start, end, mention, kind) for start, end, mention, kind in mentions] == [
            (e["start"] + 1, e["end"] + 1, e["text"], e["type"]) for e in record["entities"]]
        assert all(text[start:end] == mention for start, end, mention, _ in mentions)
    assert len(documents[0][2]) == 3 and not documents[1][2]  # the overlap is kept


def test_bioc_json_annotations_locate_their_mentions(tmp_path):
    collection = json.loads(rendered("bioc_json", tmp_path))
    assert set(collection) == {"source", "date", "key", "infons", "documents"}
    assert [d["id"] for d in collection["documents"]] == ["1", "2", "4"]
    for document, record in zip(collection["documents"], records()):
        [passage] = document["passages"]
        assert passage["offset"] == 0 and passage["text"] == record["text"]
        for annotation, entity in zip(passage["annotations"], record["entities"], strict=True):
            [location] = annotation["locations"]
            start = location["offset"] - passage["offset"]
            assert passage["text"][start:start + location["length"]] == annotation["text"]
            assert annotation["infons"] == {"type": entity["type"], "score": "0.9",
                                            "identifier": "-1"}
        assert len({a["id"] for a in passage["annotations"]}) == len(passage["annotations"])


@pytest.mark.parametrize("output_format", ["pubtator", "bioc_json"])
def test_predict_file_writes_the_format_and_resumes_to_the_same_bytes(tmp_path, output_format):
    source = tmp_path / "docs.txt"
    source.write_text("\n".join(TEXTS[:2] + [""] + TEXTS[2:] * 5) + "\n", encoding="utf-8")
    extension = prediction_formats.FORMATS[output_format]
    straight = tmp_path / f"straight{extension}"
    assert predict_file(tag, str(source), str(straight), batch_size=2, progress=False,
                        output_format=output_format) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "docs.txt", straight.name, straight.name + ".state.json"]

    calls = 0

    def interrupted(texts):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt  # as a kill between two batches leaves it
        return tag(texts)

    resumed = tmp_path / f"resumed{extension}"
    with pytest.raises(KeyboardInterrupt):
        predict_file(interrupted, str(source), str(resumed), batch_size=2, progress=False,
                     output_format=output_format)
    assert not resumed.exists()
    assert predict_file(tag, str(source), str(resumed), batch_size=2, progress=False,
                        output_format=output_format) == 3
    assert resumed.read_bytes() == straight.read_bytes()


def test_only_entity_predictions_take_an_entity_format():
    from biobert_tf.engine.driver import check_usage
    from biobert_tf.tasks.ner.task import NerSettings, NerTask
    from biobert_tf.tasks.relation.task import RelationSettings, RelationTask

    with pytest.raises(ValueError, match=r"^--predict_format=pubtator: this task's predictions "
                                         r"are not entity spans; use --predict_format=jsonl$"):
        check_usage(RelationTask, RelationSettings(output_dir="out", predict_file="docs.txt",
                                                   predict_format="pubtator"))
    check_usage(NerTask, NerSettings(output_dir="out", predict_file="docs.txt",
                                     predict_format="bioc_json"))
