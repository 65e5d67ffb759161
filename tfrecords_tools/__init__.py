"""Corpus → Google-BERT pretraining TFRecords: readers (`corpus`), instance creation
(`instances`, `pipeline`), example encoding, the `create_pretraining_data` and
`beam_pipeline` commands, and vocabulary building (`build_vocab`)."""
