"""What low-code apps know about their own tables (display names, field types, links, system
columns), read from their metadata tables, read-only: `archival init --from` and `validate --connect`."""
