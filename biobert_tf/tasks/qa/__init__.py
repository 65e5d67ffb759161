"""Question answering (run_qa.py): SQuAD and BioASQ data, strided windows, the span model
(factoid, list; `task`) and the yes/no classifier (`yesno`), BioASQ answer merging and files
(`bioasq`), SQuAD and BioASQ metrics."""
