"""Spec stage: load, validate and model archival.yaml and specs/*.yaml."""
