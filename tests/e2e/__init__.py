"""End to end: Prefect flows (the temporary server of tests/conftest.py) against real databases, run as
an operator runs them: runners, limits, quotas, retries, faults, deployments."""
