"""Planning tasks."""
