"""Math tasks."""
