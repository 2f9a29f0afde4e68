"""`archival purge`: delete archived rows from a low-code app's database, only rows whose archived
copy (in a current manifest whose files verify) is equal to the row as the export would read it now.
Children before parents, in key batches, each inside one source transaction that locks its rows,
compares again under the locks, records the keys, then deletes (docs/purge.md)."""
