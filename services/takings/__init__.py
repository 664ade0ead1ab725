"""Takings: what was sold and what was paid and refunded, per day, screening and film week."""
