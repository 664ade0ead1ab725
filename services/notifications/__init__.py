"""Notification emails, as staff see and steer them (the sending is in workers/emails)."""
