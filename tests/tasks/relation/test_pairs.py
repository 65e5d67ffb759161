"""Candidate RE pairs of a tagged sentence and their model texts (no model involved)."""

import pytest

from biobert_tf.tasks.relation.model import RelationSpec
from biobert_tf.tasks.relation.pairs import Pair, candidate_pairs

SENTENCE = "BRCA1 loss causes breast cancer and TP53 loss causes sarcoma."
BRCA1, CANCER, TP53, SARCOMA = (0, 5, "Gene"), (18, 31, "Disease"), (36, 40, "GENE"), \
    (53, 60, "disease")


def gad_spec(mode="blind"):
    return RelationSpec(("0", "1"), mode, entity_types=("GENE", "DISEASE"),
                        placeholders=("@GENE$", "@DISEASE$"))


def test_two_types_pair_every_x_with_every_y_placeholder_per_type():
    # Types match whatever their case; a Y entity before its X one still gets Y's placeholder.
    entities = [SARCOMA, BRCA1, CANCER, TP53, (6, 10, "Chemical")]
    pairs, skipped = candidate_pairs(SENTENCE, entities, gad_spec())
    assert skipped == 0
    assert pairs == [
        Pair(1, 0, "@GENE$ loss causes breast cancer and TP53 loss causes @DISEASE$."),
        Pair(1, 2, "@GENE$ loss causes @DISEASE$ and TP53 loss causes sarcoma."),
        Pair(3, 0, "BRCA1 loss causes breast cancer and @GENE$ loss causes @DISEASE$."),
        Pair(3, 2, "BRCA1 loss causes @DISEASE$ and @GENE$ loss causes sarcoma."),
    ]


def test_markers_wrap_the_x_entity_in_e1():
    spec = RelationSpec(("false", "CPR:3"), "markers", entity_types=("Disease", "Gene"))
    pairs, _ = candidate_pairs(SENTENCE, [BRCA1, CANCER], spec)
    assert pairs == [Pair(1, 0, "[E2] BRCA1 [/E2] loss causes [E1] breast cancer [/E1] and TP53 "
                                "loss causes sarcoma.")]
    # A markers model trained on blinded data read its placeholders inside the markers.
    pairs, _ = candidate_pairs(SENTENCE, [BRCA1, CANCER], gad_spec("markers"))
    assert pairs[0].text == ("[E1] @GENE$ [/E1] loss causes [E2] @DISEASE$ [/E2] and TP53 loss "
                             "causes sarcoma.")


def test_one_type_pairs_each_couple_once_the_earlier_as_e1():
    sentence = "aspirin and warfarin with heparin."
    entities = [(26, 33, "DRUG"), (0, 7, "Drug"), (12, 20, "drug")]
    ddi = RelationSpec(("DDI-false", "DDI-effect"), "blind", entity_types=("DRUG",),
                       placeholders=("@DRUG$",))
    pairs, _ = candidate_pairs(sentence, entities, ddi)
    assert [(p.e1, p.e2) for p in pairs] == [(1, 0), (2, 0), (1, 2)]
    assert pairs[0].text == "@DRUG$ and warfarin with @DRUG$."
    # Blinded with the two --placeholders: the first goes to the earlier entity.
    unnamed = RelationSpec(("0", "1"), "blind", entity_types=("DRUG",),
                           placeholders=("@E1$", "@E2$"))
    pairs, _ = candidate_pairs(sentence, entities, unnamed)
    assert [p.text for p in pairs] == ["@E1$ and warfarin with @E2$.",
                                       "aspirin and @E1$ with @E2$.",
                                       "@E1$ and @E2$ with heparin."]


def test_overlapping_or_equal_spans_are_not_candidates():
    sentence = "BRCA1 gene deficiency disease"
    entities = [(0, 10, "GENE"), (6, 21, "DISEASE"), (0, 10, "DISEASE"), (22, 29, "DISEASE")]
    pairs, skipped = candidate_pairs(sentence, entities, gad_spec())
    assert [(p.e1, p.e2) for p in pairs] == [(0, 3)] and skipped == 0
    drugs = RelationSpec(("0", "1"), "markers", entity_types=("DRUG",))
    assert candidate_pairs("ab", [(0, 2, "DRUG"), (0, 2, "DRUG"), (1, 2, "DRUG")], drugs) == \
        ([], 0)


def test_texts_with_reserved_characters_are_skipped_and_counted():
    sentence = "BRCA1 loss causes breast cancer \ue001 and TP53 loss."
    pairs, skipped = candidate_pairs(sentence, [BRCA1, CANCER, (38, 42, "Gene")], gad_spec())
    assert pairs == [] and skipped == 2


def test_a_model_without_entity_types_is_refused():
    with pytest.raises(ValueError, match="names no entity types: retrain it with "
                                         "--entity_types=X,Y"):
        candidate_pairs(SENTENCE, [BRCA1, CANCER], RelationSpec(("0", "1"), "blind"))
