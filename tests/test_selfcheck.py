import subprocess

from biobert_tf import resources
from helpers import python


def test_selfcheck_builds_tokenizes_and_runs():
    result = subprocess.run(
        [*python(), "-m", "biobert_tf.selfcheck",
         f"--bert_config_file={resources.path(resources.DEMO_CONFIG)}",
         "--text=IL-2 (p<0.05) rose."], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "2 layers, hidden 128" in lines[0]
    rows = [line.split() for line in lines[3:-2]]
    assert [(r[0], r[2], r[3]) for r in rows][:4] == [("IL", "0", "2"), ("-", "2", "3"),
                                                      ("2", "3", "4"), ("(", "5", "6")]
    assert "sequence_output (1, 64, 128)" in lines[-2] and lines[-1] == "self-check OK"
