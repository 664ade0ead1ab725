-- The door (docs/door.md): each venue's door policy, every scan, and the one admission per
-- ticket that PostgreSQL keeps whatever the timing of the doors.

-- A venue's door policy; a venue without a row has the defaults.
CREATE TABLE door_policy (
    venue_id uuid PRIMARY KEY REFERENCES venue (id),
    doors_open_minutes integer NOT NULL DEFAULT 30 CHECK (doors_open_minutes BETWEEN 0 AND 720),
    reentry boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every scan a door made, online or uploaded later. (scanner_id, nonce) is the scan's identity:
-- a retry carries the same pair and is answered from `answer` without a second row.
CREATE TABLE door_scan (
    id uuid PRIMARY KEY,
    scanner_id text NOT NULL,
    nonce text NOT NULL,
    screening_id uuid NOT NULL REFERENCES screening (id),
    door text NOT NULL,
    staff_id uuid REFERENCES staff_user (id),
    staff_name text NOT NULL DEFAULT '',
    mode text NOT NULL CHECK (mode IN ('online', 'offline')),
    scanned_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL,
    booking_id uuid REFERENCES booking (id),
    result text CHECK (result IN ('admitted', 'refused')),
    reason text,
    answer jsonb,
    UNIQUE (scanner_id, nonce)
);
CREATE INDEX door_scan_screening ON door_scan (screening_id, scanned_at);

-- The arbiter: at most one live admission per ticket (a booking's seat). An admission undone by
-- staff stays, with who undid it; the ticket can then be admitted again. Offline scans uploaded
-- later may replace the winning scan with an earlier one (the first scan wins).
CREATE TABLE admission (
    id uuid PRIMARY KEY,
    screening_id uuid NOT NULL REFERENCES screening (id),
    booking_id uuid NOT NULL,
    seat_id uuid NOT NULL,
    scan_id uuid NOT NULL REFERENCES door_scan (id),
    scanned_at timestamptz NOT NULL,
    door text NOT NULL,
    scanner_id text NOT NULL,
    staff_name text NOT NULL DEFAULT '',
    undone_at timestamptz,
    undone_by uuid REFERENCES staff_user (id),
    FOREIGN KEY (booking_id, seat_id) REFERENCES booking_seat (booking_id, seat_id),
    FOREIGN KEY (booking_id, screening_id) REFERENCES booking (id, screening_id),
    CHECK ((undone_at IS NULL) = (undone_by IS NULL))
);
CREATE UNIQUE INDEX admission_one_per_ticket ON admission (booking_id, seat_id)
    WHERE undone_at IS NULL;
CREATE INDEX admission_screening ON admission (screening_id) WHERE undone_at IS NULL;

-- What changed at the door, per booking: one row per change (a booking written, an admission
-- made, moved or undone), noting the transaction that made it. Append-only, so that writers
-- never wait on each other's rows here. A door snapshot's version is the oldest transaction
-- still running when it was read (pg_snapshot_xmin); a delta since that version lists the
-- bookings changed by that transaction or later ones, so a change committed after the snapshot
-- is never missed (one committed just before may be sent again, which is harmless). Kept by
-- triggers, so that the box office's writes (confirm, cancel) need not know about the door.
CREATE TABLE door_change (
    booking_id uuid NOT NULL REFERENCES booking (id),
    screening_id uuid NOT NULL REFERENCES screening (id),
    txid xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX door_change_screening ON door_change (screening_id, txid);
CREATE INDEX door_change_booking ON door_change (booking_id);

CREATE FUNCTION door_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed uuid;
BEGIN
    IF TG_TABLE_NAME = 'booking' THEN
        changed := NEW.id;
    ELSE
        changed := NEW.booking_id;
    END IF;
    INSERT INTO door_change (booking_id, screening_id) VALUES (changed, NEW.screening_id);
    RETURN NULL;
END;
$$;

CREATE TRIGGER booking_door_change AFTER INSERT OR UPDATE ON booking
    FOR EACH ROW EXECUTE FUNCTION door_note_change();
CREATE TRIGGER admission_door_change AFTER INSERT OR UPDATE ON admission
    FOR EACH ROW EXECUTE FUNCTION door_note_change();
