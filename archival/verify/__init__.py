"""Verify stage: prove the archive is what its manifests and audit chain say."""
