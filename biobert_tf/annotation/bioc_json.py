"""BioC JSON (Comeau et al.'s BioC in JSON, as the `bioc` package's `biocjson` reads it): write an
annotated document, read a collection back.

A collection ``{"source", "date", "key", "infons", "documents"}`` (date empty: the same bytes on
every run) holds documents ``{"id", "infons", "passages", "annotations": [], "relations"}``. Each
passage ``{"offset", "infons": {"type": kind}, "text", "sentences": [], "annotations",
"relations": []}`` holds the annotations of the entities inside it: ``{"id": "T3", "infons":
{"type", "score", "model", "identifier": "-1"}, "text", "locations": [{"offset", "length"}]}``,
infons as strings (BioC's rule), locations in document offsets. Relations are the document's:
``{"id": "R0", "infons": {"type", "score", "model"}, "nodes": [{"refid": "T3", "role": TYPE1},
{"refid": "T7", "role": TYPE2}]}``, each node's role its entity's type (the nodes' order is the
relation's direction).

Offsets are Unicode code points, as Python counts them; readers that count UTF-16 units (Java,
JavaScript) differ after characters beyond U+FFFF.
"""

from __future__ import annotations

import json
from typing import Any

from biobert_tf.annotation.document import AnnotatedDocument, Entity, Passage, Relation
from biobert_tf.annotation.pubtator import NO_IDENTIFIER, score_text, score_value

# A whole file is HEADER + SEPARATOR.join(records) + FOOTER: written one document at a time.
HEADER = '{"source": "biobert-tf", "date": "", "key": "", "infons": {}, "documents": [\n'
SEPARATOR = ",\n"
FOOTER = "\n]}\n"

_COLLECTION = {"source", "date", "key", "infons", "documents"}
_DOCUMENT = {"id", "infons", "passages", "annotations", "relations"}
_PASSAGE = {"offset", "infons", "text", "sentences", "annotations", "relations"}
_ANNOTATION = {"id", "infons", "text", "locations"}
_ANNOTATION_INFONS = {"type", "score", "model", "identifier"}
_RELATION = {"id", "infons", "nodes"}
_RELATION_INFONS = {"type", "score", "model"}


def record(doc: AnnotatedDocument) -> str:
    """`doc` as one line of JSON, for between HEADER and FOOTER."""
    return json.dumps(document(doc), ensure_ascii=False)


def document(doc: AnnotatedDocument) -> dict[str, Any]:
    """`doc` as a BioC JSON document: each entity in the passage that holds it. A ValueError
    for an entity in no passage or a relation naming a missing entity (bugs)."""
    # Each passage's annotations, by id(): equal passages are still different places.
    held: dict[int, list[dict[str, Any]]] = {id(p): [] for p in doc.passages}
    for e in doc.entities:
        passage = doc.passage_at(e.start, e.end)
        if passage is None:
            raise ValueError(f"document {doc.id}: entity {e.id} lies in no passage")
        held[id(passage)].append(
            {"id": e.id, "infons": {"type": e.type, "score": score_text(e.score), "model": e.model,
                                    "identifier": NO_IDENTIFIER},
             "text": e.text, "locations": [{"offset": e.start, "length": e.end - e.start}]})
    types = {e.id: e.type for e in doc.entities}
    for r in doc.relations:
        if not {r.e1, r.e2} <= types.keys():
            raise ValueError(f"document {doc.id}: relation {r.id} names an entity it lacks")
    return {"id": doc.id, "infons": {},
            "passages": [{"offset": p.offset, "infons": {"type": p.kind}, "text": p.text,
                          "sentences": [], "annotations": held[id(p)], "relations": []}
                         for p in doc.passages],
            "annotations": [],
            "relations": [{"id": r.id,
                           "infons": {"type": r.type, "score": score_text(r.score),
                                      "model": r.model},
                           "nodes": [{"refid": r.e1, "role": types[r.e1]},
                                     {"refid": r.e2, "role": types[r.e2]}]}
                          for r in doc.relations]}


def parse(text: str) -> list[AnnotatedDocument]:
    """Strict BioC JSON as `record` and the header and footer write it: exactly the keys above;
    passages in order without overlaps; every annotation in its passage with one location that
    slices its text, infons type/score/model/identifier; document relations of two nodes naming
    the document's entities with their types as roles; ids unique. Documents come back with no
    `source` (BioC has none) and no sentences. A ValueError names the offending object
    ("documents[2].passages[0].annotations[1]: ...")."""
    try:
        collection = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error}") from None
    _check_keys(collection, _COLLECTION, "the collection")
    for key in ("source", "date", "key"):
        _check_type(collection[key], str, f"the collection's {key}")
    _check_type(collection["infons"], dict, "the collection's infons")
    return [_document(d, f"documents[{i}]")
            for i, d in enumerate(_list(collection, "documents", "the collection"))]


def _document(obj: Any, where: str) -> AnnotatedDocument:
    _check_keys(obj, _DOCUMENT, where)
    _check_type(obj["id"], str, f"{where}.id")
    if obj["annotations"] != []:
        raise ValueError(f"{where}: annotations belong in the passage that holds them")
    if obj["infons"] != {}:
        raise ValueError(f"{where}.infons: {obj['infons']!r}, not {{}}")
    passages, entities = [], []
    for i, p in enumerate(_list(obj, "passages", where)):
        here = f"{where}.passages[{i}]"
        passage = _passage(p, here)
        if passages and passage.offset < passages[-1].end:
            raise ValueError(f"{here}: offset {passage.offset} is inside or before the "
                             "previous passage")
        passages.append(passage)
        entities += [_entity(a, passage, f"{here}.annotations[{j}]")
                     for j, a in enumerate(_list(p, "annotations", here))]
    types = {e.id: e.type for e in entities}
    if len(types) != len(entities):
        raise ValueError(f"{where}: two annotations share an id")
    relations = [_relation(r, types, f"{where}.relations[{i}]")
                 for i, r in enumerate(_list(obj, "relations", where))]
    if len({r.id for r in relations}) != len(relations):
        raise ValueError(f"{where}: two relations share an id")
    return AnnotatedDocument(obj["id"], "", passages, entities, relations)


def _passage(obj: Any, where: str) -> Passage:
    _check_keys(obj, _PASSAGE, where)
    _check_keys(obj["infons"], {"type"}, f"{where}.infons")
    if obj["sentences"] != [] or obj["relations"] != []:
        raise ValueError(f"{where}: sentences or passage relations (relations are the "
                         "document's)")
    return Passage(_check_type(obj["infons"]["type"], str, f"{where}.infons.type"),
                   _offset(obj["offset"], f"{where}.offset"),
                   _check_type(obj["text"], str, f"{where}.text"))


def _entity(obj: Any, passage: Passage, where: str) -> Entity:
    _check_keys(obj, _ANNOTATION, where)
    infons = _string_infons(obj["infons"], _ANNOTATION_INFONS, f"{where}.infons")
    locations = _list(obj, "locations", where)
    if len(locations) != 1:
        raise ValueError(f"{where}: {len(locations)} locations, not 1")
    _check_keys(locations[0], {"offset", "length"}, f"{where}.locations[0]")
    start = _offset(locations[0]["offset"], f"{where}.locations[0].offset")
    end = start + _offset(locations[0]["length"], f"{where}.locations[0].length")
    found = passage.text[start - passage.offset:end - passage.offset]
    if not passage.offset <= start < end <= passage.end or found != obj["text"]:
        raise ValueError(f"{where}: [{start}, {end}) is not {obj['text']!r} in its passage "
                         f"[{passage.offset}, {passage.end})")
    return Entity(_check_type(obj["id"], str, f"{where}.id"), start, end, found, infons["type"],
                  _score(infons["score"], f"{where}.infons.score"), infons["model"])


def _relation(obj: Any, types: dict[str, str], where: str) -> Relation:
    _check_keys(obj, _RELATION, where)
    infons = _string_infons(obj["infons"], _RELATION_INFONS, f"{where}.infons")
    nodes = _list(obj, "nodes", where)
    if len(nodes) != 2:
        raise ValueError(f"{where}: {len(nodes)} nodes, not 2")
    for i, node in enumerate(nodes):
        here = f"{where}.nodes[{i}]"
        _check_keys(node, {"refid", "role"}, here)
        refid = _check_type(node["refid"], str, f"{here}.refid")
        if refid not in types or node["role"] != types[refid]:
            raise ValueError(f"{here}: {refid!r} with role {node['role']!r} is no annotation "
                             "of the document with that type")
    return Relation(_check_type(obj["id"], str, f"{where}.id"), infons["type"],
                    nodes[0]["refid"], nodes[1]["refid"],
                    _score(infons["score"], f"{where}.infons.score"), infons["model"])


def _check_keys(obj: Any, keys: set[str], where: str) -> None:
    if not isinstance(obj, dict) or obj.keys() != keys:
        found = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"{where}: {found} instead of the keys {sorted(keys)}")


def _check_type(value: Any, kind: type, where: str) -> Any:
    # bool is an int to isinstance, never an offset.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{where}: {value!r} is not a {kind.__name__}")
    return value


def _offset(value: Any, where: str) -> int:
    if _check_type(value, int, where) < 0:
        raise ValueError(f"{where}: {value} is negative")
    return value


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    return _check_type(obj[key], list, f"{where}.{key}")


def _string_infons(obj: Any, keys: set[str], where: str) -> dict[str, str]:
    _check_keys(obj, keys, where)
    for key, value in obj.items():
        _check_type(value, str, f"{where}.{key}")
    return obj


def _score(text: str, where: str) -> float:
    score = score_value(text)
    if score is None:
        raise ValueError(f"{where}: {text!r} is not a score in [0, 1]")
    return score
