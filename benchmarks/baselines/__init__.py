"""Baselines measured beside edge-actors in the same run."""
