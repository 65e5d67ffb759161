"""BERT pretraining (run_pretraining.py): Google's TFRecord schema and input pipeline (`data`),
the masked-LM + next-sentence objective (`objective`), and the script's settings and run
(`run`)."""
