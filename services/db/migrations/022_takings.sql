-- Takings (docs/money.md, "Takings"): the indexes the reports read by. The reports themselves
-- are read-only SQL in services/takings/store.py.

-- A venue's day: the bookings made in it (the payments and refunds recorded in it use
-- payment_venue_time and refund_venue_time of 021).
CREATE INDEX booking_venue_made ON booking (venue_id, created_at);

-- The refunds due: cancelled or "paid, not seated" bookings still holding money; few at any
-- time, so a partial index keeps the staff page's list cheap however many bookings there are.
CREATE INDEX booking_refunds_due ON booking (venue_id, cancelled_at)
    WHERE status <> 'confirmed' AND paid > refunded;
