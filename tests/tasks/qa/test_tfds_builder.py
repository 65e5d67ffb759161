"""`biobert_qa` built from cuts of BioASQ 4b: the SQuAD-format pairs are `read_squad`'s
examples, the golden questions `read_golden`'s (exact answers unchanged); `test` is the
whole-year file or else the five batches, and the optional files leave their splits out."""

import json

import pytest

from biobert_tf.tasks.qa import tfds_builder
from biobert_tf.tasks.qa.data import read_golden, read_squad
from helpers import shared_file, tfds_rows


@pytest.fixture(scope="module")
def manual_dir(tmp_path_factory):
    """Batch 1 of BioASQ 4b cut short (3 paragraphs of pairs, 12 golden questions), batches
    2–5 whole, no training file and no whole-year files (BioBERT's first release)."""
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


def batch_files(manual_dir, name: str) -> list[str]:
    return [str(manual_dir / "qa" / "BioASQ" / name.format(k=k)) for k in range(1, 6)]


def test_pairs_are_read_squads_examples_and_test_is_the_five_batches(manual_dir, tmp_path):
    found, info = tfds_rows("biobert_qa/bioasq_4b", "test_batch_1", tmp_path, manual_dir)
    files = batch_files(manual_dir, "BioASQ-test-factoid-4b-{k}.json")
    expected = read_squad(files[0])
    assert tfds_builder.qa_examples(found) == expected and len(expected) >= 3
    # No training file in the manual folder: no train split, no validation (BioASQ has none).
    assert sorted(info.splits) == ["test", *(f"test_batch_{k}" for k in range(1, 6))]
    test, _ = tfds_rows("biobert_qa/bioasq_4b", "test", tmp_path, manual_dir)
    assert tfds_builder.qa_examples(test) == [x for f in files for x in read_squad(f)]


def test_golden_questions_are_read_goldens_and_score_the_same(manual_dir, tmp_path):
    found, info = tfds_rows("biobert_qa/bioasq_4b_golden", "test_batch_1", tmp_path, manual_dir)
    files = batch_files(manual_dir, "4B{k}_golden.json")
    questions = tfds_builder.golden_questions(found)
    assert questions == read_golden(files[0]) and len(questions) == 12
    assert {q.type for q in questions} >= {"factoid", "list", "yesno"}
    assert sum(q.exact_answer is not None for q in questions) >= 9  # nested lists kept as is
    test, _ = tfds_rows("biobert_qa/bioasq_4b_golden", "test", tmp_path, manual_dir)
    assert tfds_builder.golden_questions(test) == [q for f in files for q in read_golden(f)]


def test_a_whole_year_file_is_the_test_split_without_batches(tmp_path):
    """biobert-pytorch's layout: the year's test and golden files, no batch files."""
    folder = tmp_path / "manual" / "QA" / "BioASQ"
    folder.mkdir(parents=True)
    pairs = json.loads(shared_file("qa", "BioASQ", "BioASQ-test-factoid-5b-2.json")
                       .read_text(encoding="utf-8"))
    pairs["data"][0]["paragraphs"] = pairs["data"][0]["paragraphs"][:4]
    (folder / "BioASQ-test-factoid-5b.json").write_text(json.dumps(pairs), encoding="utf-8")
    golden = json.loads(shared_file("qa", "BioASQ", "5B_golden.json").read_text("utf-8"))
    golden["questions"] = golden["questions"][:30]
    (folder / "5B_golden.json").write_text(json.dumps(golden), encoding="utf-8")
    manual = tmp_path / "manual"
    found, info = tfds_rows("biobert_qa/bioasq_5b", "test", tmp_path / "tfds", manual)
    expected = read_squad(str(folder / "BioASQ-test-factoid-5b.json"))
    assert tfds_builder.qa_examples(found) == expected
    assert list(info.splits) == ["test"]
    found, _ = tfds_rows("biobert_qa/bioasq_5b_golden", "test", tmp_path / "tfds", manual)
    assert tfds_builder.golden_questions(found) == read_golden(str(folder / "5B_golden.json"))


def test_a_test_split_that_cannot_be_made_names_its_files(manual_dir, tmp_path):
    partial = tmp_path / "partial" / "QA" / "BioASQ"
    partial.mkdir(parents=True)
    for k in (1, 2):
        (partial / f"4B{k}_golden.json").write_text(
            (manual_dir / "qa" / "BioASQ" / f"4B{k}_golden.json").read_text("utf-8"), "utf-8")
    with pytest.raises(FileNotFoundError, match=(
            r"biobert_qa/bioasq_4b_golden: missing QA/BioASQ/4B_golden.json \(or "
            r"QA/BioASQ/4B3_golden.json, QA/BioASQ/4B4_golden.json, QA/BioASQ/4B5_golden.json\)"
            r" \(found QA/BioASQ/4B1_golden.json, QA/BioASQ/4B2_golden.json\)")):
        tfds_rows("biobert_qa/bioasq_4b_golden", "test", tmp_path / "tfds", partial.parents[1])


def test_the_configs_name_their_release_files():
    assert [c.name for c in tfds_builder.CONFIGS] == [
        name for year in (4, 5, 6, 7) for name in (f"bioasq_{year}b", f"bioasq_{year}b_golden")]
    for config in tfds_builder.CONFIGS:
        assert all(path.startswith("QA/BioASQ/") for path in config.files.values())
        assert config.combined == {"test": tfds_builder.TEST_BATCHES}
        assert set(config.files) - set(config.optional) == {"test"}
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
