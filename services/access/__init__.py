"""Access devices: inventory, reservations, waitlist and the desk (docs/access.md)."""
