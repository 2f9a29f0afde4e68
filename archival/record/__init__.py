"""Record stage: manifests (the commit point of a unit), the hash-linked audit chain, OpenLineage
events and run records. Everything is written once under a new name, never changed."""
