"""Source stage: resolve secrets, open DuckDB with the scanner extensions, ATTACH sources read-only,
and ask them cheap questions (columns, earliest cursor value)."""
