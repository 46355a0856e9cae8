"""HealthHub's load benchmark: pages against a bare-Django floor, in one run."""
