"""Write stage: PII rules applied to each batch before anything touches disk, then deterministic
Parquet or gzipped CSV parts, named by their content."""
