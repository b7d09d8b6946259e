"""Call recordings: ingest into the archive, audio conversion, transcription and search."""
