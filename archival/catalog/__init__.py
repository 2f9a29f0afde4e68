"""`archival docs`: the project and its archive as a static HTML catalog (facts.py gathers, page.py renders)."""
