"""Tasks over datasets of expert trajectories."""
