"""`biobert_qa` built from cuts of BioASQ 4b: the SQuAD-format pairs are `read_squad`'s
examples, the golden questions `read_golden`'s (exact answers unchanged), and the optional
files leave their splits out."""

import json

import pytest

from biobert_tf.tasks.qa import tfds_builder
from biobert_tf.tasks.qa.data import read_golden, read_squad
from helpers import shared_file, tfds_rows


@pytest.fixture(scope="module")
def manual_dir(tmp_path_factory):
    """Batch 1 of BioASQ 4b cut short (3 paragraphs of pairs, 12 golden questions), batches
    2–5 whole, no training file and no whole-year golden file."""
    root = tmp_path_factory.mktemp("manual")
    folder = root / "qa" / "BioASQ"
    folder.mkdir(parents=True)
    for k in range(1, 6):
        pairs = json.loads(shared_file("qa", "BioASQ", f"BioASQ-test-factoid-4b-{k}.json")
                           .read_text(encoding="utf-8"))
        golden = json.loads(shared_file("qa", "BioASQ", f"4B{k}_golden.json")
                            .read_text(encoding="utf-8"))
        if k == 1:
            pairs["data"][0]["paragraphs"] = pairs["data"][0]["paragraphs"][:3]
            golden["questions"] = golden["questions"][:12]
        (folder / f"BioASQ-test-factoid-4b-{k}.json").write_text(json.dumps(pairs),
                                                                 encoding="utf-8")
        (folder / f"4B{k}_golden.json").write_text(json.dumps(golden), encoding="utf-8")
    return root


def test_pairs_are_read_squads_examples(manual_dir, tmp_path):
    found, info = tfds_rows("biobert_qa/bioasq_4b", "test_factoid_1", tmp_path, manual_dir)
    expected = read_squad(str(manual_dir / "qa" / "BioASQ" / "BioASQ-test-factoid-4b-1.json"))
    assert tfds_builder.qa_examples(found) == expected and len(expected) >= 3
    # No training file in the manual folder: no train_factoid split, the batches all there.
    assert sorted(info.splits) == [f"test_factoid_{k}" for k in range(1, 6)]


def test_golden_questions_are_read_goldens_and_score_the_same(manual_dir, tmp_path):
    found, info = tfds_rows("biobert_qa/bioasq_4b_golden", "batch_1", tmp_path, manual_dir)
    path = str(manual_dir / "qa" / "BioASQ" / "4B1_golden.json")
    questions = tfds_builder.golden_questions(found)
    assert questions == read_golden(path) and len(questions) == 12
    assert {q.type for q in questions} >= {"factoid", "list", "yesno"}
    assert sum(q.exact_answer is not None for q in questions) >= 9  # nested lists kept as is
    assert "whole_year" not in info.splits


def test_the_configs_name_their_release_files():
    assert [c.name for c in tfds_builder.CONFIGS] == [
        name for year in (4, 5, 6, 7) for name in (f"bioasq_{year}b", f"bioasq_{year}b_golden")]
    for config in tfds_builder.CONFIGS:
        assert all(path.startswith("QA/BioASQ/") for path in config.files.values())
        assert len(config.optional) == 1 and config.optional[0] in config.files
        assert "@article{lee2020biobert" in config.citation and "bioasq.org" in config.license


@pytest.mark.slow
@pytest.mark.parametrize("year", [4, 5])
def test_whole_real_years_prepare_to_the_readers_questions(tmp_path, year):
    manual = shared_file("qa").parent  # ../shared/data: qa/ as the release's QA/
    for config, convert, read in ((f"bioasq_{year}b", tfds_builder.qa_examples, read_squad),
                                  (f"bioasq_{year}b_golden", tfds_builder.golden_questions,
                                   read_golden)):
        [files] = [c.files for c in tfds_builder.CONFIGS if c.name == config]
        for split, name in files.items():
            path = manual / name.replace("QA/", "qa/", 1)
            if path.exists():
                found, _ = tfds_rows(f"biobert_qa/{config}", split, tmp_path, manual)
                assert convert(found) == read(str(path)), (config, split)


def test_each_year_has_its_golden_questions():
    assert tfds_builder.golden_name("biobert_qa/bioasq_5b") == "biobert_qa/bioasq_5b_golden"
    assert tfds_builder.golden_name("biobert_qa/bioasq_5b_golden") == "biobert_qa/bioasq_5b_golden"
    assert tfds_builder.is_golden("biobert_qa/bioasq_7b_golden")
    assert not tfds_builder.is_golden("biobert_qa/bioasq_7b")
