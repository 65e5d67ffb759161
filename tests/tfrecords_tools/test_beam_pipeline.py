"""The Beam pipeline (DirectRunner, 2 worker processes) writes exactly the single-process examples."""

import glob
import subprocess

import pytest
import tensorflow as tf

from biobert_tf import resources
from helpers import REPO, python, shared_file

pytest.importorskip("apache_beam", reason="the beam extra: pip install -e '.[beam]'")


def _records(paths):
    return sorted(record.numpy() for path in paths for record in tf.data.TFRecordDataset(path))


def test_beam_direct_runner_equals_single_process(tmp_path):
    lines = open(shared_file("corpus", "bioasq_abstracts.txt"), encoding="utf-8").readlines()
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("".join(lines[:20]), encoding="utf-8")
    (tmp_path / "in" / "b.txt").write_text("".join(lines[20:35]), encoding="utf-8")
    common = [f"--input_file={tmp_path}/in/*.txt", f"--vocab_file={resources.path(resources.DEMO_VOCAB)}",
              "--do_lower_case=false", "--dupe_factor=2", "--documents_per_chunk=8",
              "--do_whole_word_mask", "--random_seed=99"]

    def run(*args):
        result = subprocess.run([*python(), "-m", *args], capture_output=True, text=True,
                                cwd=REPO, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]

    run("tfrecords_tools.create_pretraining_data", *common, "--noprogress",
        f"--output_file={tmp_path}/single/a.tfrecord,{tmp_path}/single/b.tfrecord")
    run("tfrecords_tools.beam_pipeline", *common, f"--output_prefix={tmp_path}/beam/pt",
        "--num_shards=3", "--", "--runner=DirectRunner", "--direct_num_workers=2",
        "--direct_running_mode=multi_processing")
    shards = sorted(glob.glob(f"{tmp_path}/beam/pt-*"))
    assert [p.rsplit("/", 1)[1] for p in shards] == [
        f"pt-0000{i}-of-00003.tfrecord" for i in range(3)]
    single = _records(glob.glob(f"{tmp_path}/single/*.tfrecord"))
    assert len(single) > 200
    assert _records(shards) == single
