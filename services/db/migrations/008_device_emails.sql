-- Emails about device reservations (workers/emails/devices.py, docs/emails.md): such an email
-- names its reservation, so that a reservation's emails thread together, staff see what an
-- email was about, and the pick-up reminder job finds the reservations that have had theirs.
-- Numbered 008: 007 is kept for the box office's work in progress; the runner applies any
-- number it has not applied yet, in order.
ALTER TABLE email ADD COLUMN device_reservation_id uuid REFERENCES device_reservation (id);
CREATE INDEX email_device_reservation ON email (device_reservation_id, kind)
    WHERE device_reservation_id IS NOT NULL;
