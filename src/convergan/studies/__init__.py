"""Empirical studies: several training runs compared in one figure and one table."""
