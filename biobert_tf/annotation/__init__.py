"""Annotated documents (entities and relations in document offsets) and the formats
biomedical text-mining tools exchange them in: PubTator, BioC JSON, jsonl."""
