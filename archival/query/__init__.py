"""SQL over the archive for analysts: views that read the current state correctly (docs/query.md)."""
