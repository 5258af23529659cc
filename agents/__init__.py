"""Agent baselines."""
