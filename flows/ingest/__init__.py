"""Ingest: Kafka bytes to validated, clocked, de-duplicated events or dead letters."""
