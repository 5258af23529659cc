"""Reasoning tasks, one folder per domain and one task per file."""
