"""Atomic, resumable output of create_pretraining_data: shards appear under their final names only
when complete, a killed run continues to the bytes of an uninterrupted one, another command into
the same files is refused, and a corpus with no example writes nothing; with several worker
processes too, which end with a killed run."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from biobert_tf import resources
from biobert_tf.bert.tokenization import BertTokenizer
from helpers import REPO, python, shared_file
from tfrecords_tools import pipeline, run_record
from tfrecords_tools.corpus import DocumentFiles
from tfrecords_tools.instances import InstanceOptions

VOCAB = str(resources.path(resources.DEMO_VOCAB))


def _records(path) -> list[bytes]:
    return [record.numpy() for record in tf.data.TFRecordDataset(str(path))]


def test_writer_names_shards_when_complete_and_continues_from_its_progress(tmp_path):
    paths = [str(tmp_path / "a.tfrecord"), str(tmp_path / "b.tfrecord")]
    examples = [b"example %d" % i for i in range(7)]
    with pipeline.RoundRobinWriter(paths) as straight:
        straight.write(examples)
    expected = [pathlib.Path(p).read_bytes() for p in paths]

    killed = [str(tmp_path / "k-a.tfrecord"), str(tmp_path / "k-b.tfrecord")]
    writer = pipeline.RoundRobinWriter(killed)
    writer.write(examples[:3])
    writer.flush()
    progress = writer.progress()
    writer.write(examples[3:5])  # written after the last flush: a rerun makes them again
    writer.close()  # as a kill leaves them: only .partial files...
    with open(killed[0] + ".partial", "ab") as f:
        f.write(b"\x05\x00\x00")  # ...maybe with half a record at the end
    assert not any(os.path.exists(p) for p in killed)
    framed = [16 + len(example) for example in examples]  # length, its CRC, data, its CRC
    assert progress == pipeline.ShardProgress([framed[0] + framed[2], framed[1]], 1)
    with pipeline.RoundRobinWriter(killed, progress) as resumed:
        resumed.write(examples[3:])
    assert [pathlib.Path(p).read_bytes() for p in killed] == expected
    assert sorted(os.listdir(tmp_path)) == ["a.tfrecord", "b.tfrecord", "k-a.tfrecord", "k-b.tfrecord"]


def test_writer_leaves_nothing_when_it_fails_before_flushing(tmp_path):
    path = str(tmp_path / "a.tfrecord")
    with pytest.raises(RuntimeError):
        with pipeline.RoundRobinWriter([path]) as writer:
            writer.write([b"x"])
            raise RuntimeError("the corpus failed")
    assert os.listdir(tmp_path) == []


def test_run_record_continues_its_command_and_refuses_another(tmp_path):
    out = str(tmp_path / "out.tfrecord")
    command = {"inputs": [["c.txt", 1.0, 10, 5]], "random_seed": 1, "output_files": [out]}
    open(pipeline.unfinished_path(out), "wb").close()  # a run killed before its first chunk was done
    record = run_record.start(command, overwrite=False)
    assert record.chunks_done == 0 and record.shards is None
    record.chunks_done, record.shards = 3, pipeline.ShardProgress([40], 0)
    record.summary.instances = 40
    record.save()
    again = run_record.start(dict(command), overwrite=False)
    assert (again.chunks_done, again.shards, again.summary.instances) == (3, record.shards, 40)

    other = {**command, "random_seed": 2}
    with pytest.raises(ValueError, match=r"out\.tfrecord\.run\.json: --output_file holds the output "
                                         r"of another command \(it differs in random_seed\); pass "
                                         "--overwrite"):
        run_record.start(other, overwrite=False)
    assert run_record.start(other, overwrite=True).chunks_done == 0

    foreign = str(tmp_path / "google.tfrecord")  # written by another tool: no record
    open(foreign, "wb").close()
    with pytest.raises(ValueError, match="google.tfrecord exists and is not the output of this command"):
        run_record.start({**command, "output_files": [foreign]}, overwrite=False)


def _command(corpus, outputs, *flags, interpreter=None):
    """The command line; `interpreter` [sys.executable] for a real process (kill -9 and its
    worker processes need one)."""
    return [*(interpreter or python()), "-m", "tfrecords_tools.create_pretraining_data", f"--input_file={corpus}",
            f"--output_file={','.join(outputs)}", f"--vocab_file={VOCAB}", "--do_lower_case=false",
            "--dupe_factor=2", "--max_seq_length=64", "--max_predictions_per_seq=10",
            "--documents_per_chunk=10", "--random_seed=3", "--noprogress", *flags]


def _uninterrupted_shards(corpus, shards: int) -> list[list[bytes]]:
    """What the command writes, by its definition: chunks of 10 documents, each made into
    examples with its own seed, dealt round-robin to the shards."""
    tokenizer = BertTokenizer(VOCAB, do_lower_case=False)
    options = InstanceOptions(max_seq_length=64, max_predictions_per_seq=10)
    examples = [example
                for key, chunk in pipeline.keyed_chunks(0, DocumentFiles([str(corpus)]), 10)
                for instances, _ in pipeline.process_chunk(chunk, tokenizer, options, 2,
                                                           pipeline.chunk_seed(3, key))
                for example in pipeline.serialize(instances)]
    return [examples[shard::shards] for shard in range(shards)]


def _chunks_done(record: str) -> int:
    """The chunks a running command has recorded as done (the record is replaced atomically)."""
    if not os.path.exists(record):
        return 0
    with open(record, encoding="utf-8") as f:
        return json.load(f)["chunks_done"]


def _children(pid: int) -> list[int]:
    """The processes `pid` started (Linux's /proc, every thread's)."""
    return [int(child) for task in pathlib.Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


def _running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie (an orphan waiting for init to reap it)."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_kill_9_while_writing_then_the_same_command_finishes_the_same_bytes(tmp_path):
    corpus = tmp_path / "corpus.txt"
    with open(shared_file("corpus", "bioasq_abstracts.txt"), encoding="utf-8") as f:
        corpus.write_text("".join(f.readlines()[:120]), encoding="utf-8")
    outputs = [str(tmp_path / f"out-{i}.tfrecord") for i in range(2)]
    record = outputs[0] + ".run.json"
    process = subprocess.Popen(_command(corpus, outputs, "--num_workers=2",
                                        interpreter=[sys.executable]), cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline:
        if _chunks_done(record) >= 3:
            workers = _children(process.pid)
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert process.wait(timeout=60) == -signal.SIGKILL, process.stderr.read()[-2000:]
    # The workers (and multiprocessing's resource tracker) end with the process that started them.
    deadline = time.monotonic() + 60
    while any(map(_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in workers if _running(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert len(workers) >= 2 and not left
    assert not any(os.path.exists(p) for p in outputs)  # only .partial files
    assert all(os.path.exists(p + ".partial") for p in outputs)
    (pathlib.Path(outputs[0] + ".chunks.partial") / "stray").touch()  # the rerun removes it

    # Another number of workers continues the same run: it does not change the output.
    rerun = subprocess.run(_command(corpus, outputs, "--num_workers=1"), cwd=REPO,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    done = int(rerun.stdout.split("after its first ")[1].split()[0])
    assert 3 <= done < 12  # 120 documents: 12 chunks
    # Its rate counts only what it made, not the interrupted run's instances.
    total, made_now, earlier = map(int, re.search(
        r"wrote: .* (\d+) instances, .*instances/s for the (\d+) made after the interrupted "
        r"run's (\d+)\)", rerun.stdout).groups())
    assert made_now > 0 and made_now + earlier == total
    assert [_records(p) for p in outputs] == _uninterrupted_shards(corpus, 2)
    assert sorted(os.listdir(tmp_path)) == ["corpus.txt", "out-0.tfrecord", "out-0.tfrecord.run.json",
                                            "out-1.tfrecord"]
