"""Check stage: the `columns:` contract of a table as a Pandera schema (polars backend), applied to
each batch while the export streams."""
