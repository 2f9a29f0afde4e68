"""Extract stage: read one ExportUnit's rows from one consistent source snapshot, ordered by key,
as a stream of Arrow record batches, with the source-side summary taken in the same snapshot."""
