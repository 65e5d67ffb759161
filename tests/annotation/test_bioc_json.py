"""BioC JSON: each annotation in the passage that holds it, its location slicing the document to
its text; documents, entities and relations come back whole; the strict parser names the object
of any deviation."""

import copy
import dataclasses
import io
import json

import pytest

from biobert_tf.annotation import bioc_json, formats


def written(documents):
    out = io.StringIO()
    formats.write(documents, out, formats.FORMATS["bioc_json"])
    return out.getvalue()


def test_documents_come_back_whole(documents):
    text = written(documents)
    assert text.startswith(bioc_json.HEADER) and text.endswith("]}\n")
    assert "α-thalassemia" in text and text.count("\n") == len(documents) + 2
    # BioC has no source, and we write no sentences.
    assert bioc_json.parse(text) == [dataclasses.replace(d, source="") for d in documents]
    assert bioc_json.parse(written([])) == []


def test_every_location_slices_its_passage_to_the_annotation_text(documents):
    for doc, obj in zip(documents, json.loads(written(documents))["documents"]):
        assert obj["annotations"] == [] and obj["infons"] == {}
        annotations = []
        for passage in obj["passages"]:
            for annotation in passage["annotations"]:
                [location] = annotation["locations"]
                start = location["offset"] - passage["offset"]
                assert 0 <= start < start + location["length"] <= len(passage["text"])
                assert passage["text"][start:start + location["length"]] == annotation["text"]
                annotations.append(annotation)
        assert [(a["id"], a["infons"]) for a in annotations] == [
            (e.id, {"type": e.type, "score": str(e.score), "model": e.model, "identifier": "-1"})
            for e in doc.entities]
    pubmed = json.loads(written(documents))["documents"][0]
    assert [len(p["annotations"]) for p in pubmed["passages"]] == [3, 5]
    assert pubmed["passages"][0]["annotations"][1]["infons"]["model"] == "ncbi"


def test_relations_are_the_documents_with_the_entity_types_as_roles(documents):
    [obj] = json.loads(written(documents[:1]))["documents"]
    assert obj["relations"] == [
        {"id": "R0", "infons": {"type": "Association", "score": "0.5", "model": "gad"},
         "nodes": [{"refid": "T0", "role": "Gene"}, {"refid": "T1", "role": "Disease"}]},
        {"id": "R1", "infons": {"type": "Association", "score": "0.8123", "model": "gad"},
         "nodes": [{"refid": "T4", "role": "Gene"}, {"refid": "T5", "role": "Disease"}]},
        {"id": "R2", "infons": {"type": "Association", "score": "1.0", "model": "gad"},
         "nodes": [{"refid": "T7", "role": "Gene"}, {"refid": "T5", "role": "Disease"}]}]
    assert all(not p["relations"] for p in obj["passages"])


def test_an_entity_in_no_passage_is_refused(documents):
    doc = documents[2]
    doc.entities[0] = dataclasses.replace(doc.entities[0], start=30, end=31, text="x")
    with pytest.raises(ValueError, match="^document PMC123: entity T0 lies in no passage$"):
        bioc_json.document(doc)


def _parent(collection, path):
    for key in path[:-1]:
        collection = collection[key]
    return collection


def _set(path, value):
    """A change to the collection: the value at `path` (keys and indexes) set to `value`."""
    def change(collection):
        _parent(collection, path)[path[-1]] = value
    return change


def _delete_key(path):
    def change(collection):
        del _parent(collection, path)[path[-1]]
    return change


def _move_annotation(collection):
    passages = collection["documents"][0]["passages"]
    passages[1]["annotations"].append(passages[0]["annotations"].pop())


ANNOTATION = ["documents", 0, "passages", 1, "annotations", 0]
RELATION = ["documents", 0, "relations", 0]


@pytest.mark.parametrize("change,error", [
    (_delete_key(["date"]), r"^the collection: \['documents', 'infons', 'key', 'source'\] "
                            r"instead of the keys"),
    (_set(["documents", 0, "id"], 31452104), r"^documents\[0\].id: 31452104 is not a str$"),
    (_set(["documents", 0, "annotations"], [{}]), r"^documents\[0\]: annotations belong in"),
    (_set(ANNOTATION + ["locations", 0, "offset"], 47), r"^documents\[0\].passages\[1\]."
                                                        r"annotations\[0\]: \[47, 52\) is not "
                                                        r"'BRCA1' in its passage \[45, 111\)$"),
    (_set(ANNOTATION + ["locations", 0, "length"], True), r"locations\[0\].length: True is not"),
    (_set(ANNOTATION + ["locations"], []), r"annotations\[0\]: 0 locations, not 1$"),
    (_set(ANNOTATION + ["infons", "score"], 0.9), r"annotations\[0\].infons.score: 0.9 is not"),
    (_set(ANNOTATION + ["infons", "score"], "1.5"), r"infons.score: '1.5' is not a score"),
    (_delete_key(ANNOTATION + ["infons", "identifier"]), r"annotations\[0\].infons: \["),
    (_move_annotation, r"^documents\[0\].passages\[1\].annotations\[5\]: \[21, 32\) is not"),
    (_set(["documents", 0, "passages", 1, "offset"], 40), r"^documents\[0\].passages\[1\]: "
                                                          r"offset 40 is inside or before"),
    (_set(["documents", 0, "passages", 0, "sentences"], [{}]), r"passages\[0\]: sentences or"),
    (_set(ANNOTATION + ["id"], "T0"), r"^documents\[0\]: two annotations share an id$"),
    (_set(RELATION + ["nodes", 1, "refid"], "T99"), r"^documents\[0\].relations\[0\].nodes\[1\]: "
                                                    r"'T99' with role 'Disease' is no annotation"),
    (_set(RELATION + ["nodes", 1, "role"], "Gene"), r"nodes\[1\]: 'T1' with role 'Gene' is no"),
    (_set(RELATION + ["nodes"], []), r"relations\[0\]: 0 nodes, not 2$"),
    (_set(RELATION + ["id"], "R1"), r"^documents\[0\]: two relations share an id$"),
])
def test_the_parser_names_the_object_of_any_deviation(documents, change, error):
    collection = json.loads(written(documents))
    changed = copy.deepcopy(collection)
    change(changed)
    with pytest.raises(ValueError, match=error):
        bioc_json.parse(json.dumps(changed))


def test_text_that_is_not_json_is_refused():
    with pytest.raises(ValueError, match="^not JSON: "):
        bioc_json.parse(bioc_json.HEADER)
