"""Search backends (SQLite FTS5 embedded, Elasticsearch at scale), query model, indexer."""
