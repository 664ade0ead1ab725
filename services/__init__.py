"""Usher's API and everything that runs behind it."""
