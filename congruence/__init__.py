"""congruence."""
