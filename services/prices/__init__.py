"""Prices: each seat's breakdown, discount codes, memberships, a venue's fee and tax rate."""
