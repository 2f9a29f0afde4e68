"""The archive as it ages: data classes per period, storage tiers, expiry under legal holds."""
