"""Archive stage foundation: the public layout, storage backends and reading manifests. Below the
plan (which reads what is archived) and below write/record (which add to it)."""
