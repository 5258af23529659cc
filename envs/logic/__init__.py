"""Logic tasks."""
