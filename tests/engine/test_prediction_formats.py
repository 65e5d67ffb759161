"""PubTator and BioC JSON outputs of entity predictions: read back by the strict parsers (which
check that every offset slices the document to its mention); rendered from the kept JSON lines
of --predict_file, whole or not at all."""

import io
import json
import re

import pytest

from biobert_tf.annotation import bioc_json, pubtator
from biobert_tf.engine import prediction_formats

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
    documents = pubtator.parse(rendered("pubtator", tmp_path))
    assert [d.id for d in documents] == ["1", "2", "4"]
    for document, record in zip(documents, records()):
        # The empty title and its space come first; tabs and line breaks became spaces.
        assert document.title == "" and document.relations == ()
        assert document.abstract == re.sub("[\t\u2028]", " ", record["text"])
        assert list(document.mentions) == [
            (e["start"] + 1, e["end"] + 1, e["text"], e["type"], "-1")
            for e in record["entities"]]
    assert len(documents[0].mentions) == 3 and not documents[1].mentions  # the overlap is kept


def test_bioc_json_annotations_locate_their_mentions(tmp_path):
    text = rendered("bioc_json", tmp_path)
    assert [d.id for d in bioc_json.parse(text)] == ["1", "2", "4"]
    collection = json.loads(text)
    assert set(collection) == {"source", "date", "key", "infons", "documents"}
    assert [d["id"] for d in collection["documents"]] == ["1", "2", "4"]
    for document, record in zip(collection["documents"], records()):
        [passage] = document["passages"]
        assert passage["offset"] == 0 and passage["text"] == record["text"]
        for annotation, entity in zip(passage["annotations"], record["entities"], strict=True):
            [location] = annotation["locations"]
            start = location["offset"] - passage["offset"]
            assert passage["text"][start:start + location["length"]] == annotation["text"]
            assert annotation["infons"] == {"type": entity["type"], "score": "0.9", "model": "",
                                            "identifier": "-1"}
        assert len({a["id"] for a in passage["annotations"]}) == len(passage["annotations"])


class FakeNerTask:
    """What `driver.run` needs of a task to predict a file: settings, `predict_texts` (counting
    the documents it is asked to predict) and `prediction_document`."""
    predicts_text = True
    strategy = None
    prediction_document = staticmethod(prediction_formats.entity_document)

    def __init__(self, output_dir, predict_file, predict_format):
        from biobert_tf.tasks.ner.task import NerSettings
        self.settings = NerSettings(output_dir=str(output_dir), predict_file=str(predict_file),
                                    predict_format=predict_format)
        self.predicted = 0

    def validate(self):
        pass

    def restore(self):
        pass

    def predict_texts(self, texts):
        self.predicted += len(texts)
        return tag(texts)


def test_the_jsonl_is_kept_and_another_format_predicts_nothing_again(tmp_path):
    from biobert_tf.engine import driver
    source = tmp_path / "docs.txt"
    source.write_text("\n".join(TEXTS[:2] + [""] + TEXTS[2:] * 5) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    out.mkdir()
    task = FakeNerTask(out, source, "pubtator")
    driver.run(task)
    assert task.predicted == 7
    assert sorted(p.name for p in out.iterdir()) == [
        "file_predictions.jsonl", "file_predictions.jsonl.state.json",
        "file_predictions.pubtator"]
    jsonl = (out / "file_predictions.jsonl").read_text(encoding="utf-8")
    written = (out / "file_predictions.pubtator").read_text(encoding="utf-8")
    assert [d.id for d in pubtator.parse(written)] == [
        "1", "2", "4", "5", "6", "7", "8"]

    task = FakeNerTask(out, source, "bioc_json")
    driver.run(task)
    assert task.predicted == 0  # rendered from the complete jsonl
    bioc = json.loads((out / "file_predictions.bioc.json").read_text(encoding="utf-8"))
    assert [d["id"] for d in bioc["documents"]] == ["1", "2", "4", "5", "6", "7", "8"]
    assert (out / "file_predictions.jsonl").read_text(encoding="utf-8") == jsonl
    assert (out / "file_predictions.pubtator").read_text(encoding="utf-8") == written


def test_a_render_killed_midway_is_redone_whole(tmp_path_factory):
    expected = rendered("pubtator", tmp_path_factory.mktemp("expected"))
    tmp_path = tmp_path_factory.mktemp("render")
    source = tmp_path / "predictions.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records()), encoding="utf-8")
    output = tmp_path / "predictions.pubtator"
    # What a kill during rendering leaves: part of the output under the temporary name.
    (tmp_path / "predictions.pubtator.partial").write_text("1|t|\n1|a|Naïve", encoding="utf-8")
    prediction_formats.render_file(str(source), str(output), "pubtator")
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name, output.name]
    assert output.read_text(encoding="utf-8") == expected


def test_only_annotation_predictions_take_a_document_format():
    from biobert_tf.engine.driver import check_usage
    from biobert_tf.tasks.ner.task import NerSettings, NerTask
    from biobert_tf.tasks.qa.task import QaSettings, SpanQaTask
    from biobert_tf.tasks.relation.task import RelationSettings, RelationTask

    with pytest.raises(ValueError, match=r"^--predict_format=pubtator: this task's predictions "
                                         r"are not annotations of a text; use "
                                         r"--predict_format=jsonl$"):
        check_usage(SpanQaTask, QaSettings(output_dir="out", do_predict=True,
                                           predict_file="test.json", predict_format="pubtator"))
    check_usage(RelationTask, RelationSettings(output_dir="out", predict_file="docs.txt",
                                               predict_format="pubtator"))
    check_usage(NerTask, NerSettings(output_dir="out", predict_file="docs.txt",
                                     predict_format="bioc_json"))
    with pytest.raises(ValueError, match=r"^--predict_format=bioc_json: is the format of "
                                         r"--predict_file's output, and no --predict_file is "
                                         r"given$"):
        check_usage(NerTask, NerSettings(output_dir="out", do_predict=True,
                                         predict_format="bioc_json"))
