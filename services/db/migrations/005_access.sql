-- Access devices: a venue's assistive-listening receivers, neckloops, captioning and
-- audio-description devices, and patrons' reservations of them (docs/access.md).
--
-- "Never lent twice" is PostgreSQL's job: a reservation that holds a unit carries the span it keeps
-- the unit for ([start - pick-up lead, end + turnaround)), and two such spans never overlap on one
-- unit, whatever the timing of the requests (device_never_lent_twice).

-- Lets a device name the auditorium it is tuned to only within its own venue.
ALTER TABLE auditorium ADD CONSTRAINT auditorium_id_venue_key UNIQUE (id, venue_id);

-- One physical unit. `auditorium_id` is the auditorium it is tuned to (its transmitter's channel);
-- NULL for a unit that works in every auditorium of the venue. `on_loan` is set only by a
-- check-out and cleared only by a return.
CREATE TABLE device (
    id uuid PRIMARY KEY,
    venue_id uuid NOT NULL REFERENCES venue (id),
    asset_tag text NOT NULL,
    kind text NOT NULL
        CHECK (kind IN ('assistive_listening', 'neckloop', 'captioning', 'audio_description')),
    auditorium_id uuid,
    state text NOT NULL DEFAULT 'available'
        CHECK (state IN ('available', 'on_loan', 'charging', 'needs_repair', 'retired')),
    note text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL DEFAULT 1,
    UNIQUE (venue_id, asset_tag),
    UNIQUE (id, venue_id, kind),
    FOREIGN KEY (auditorium_id, venue_id) REFERENCES auditorium (id, venue_id)
);
CREATE INDEX device_venue_kind ON device (venue_id, kind);

-- A patron's reservation of one device of a kind for one screening. `span` is the time it needs a
-- unit for; while `status` is reserved, checked_out or returned it holds `device_id` for that span
-- (a returned unit's span ends at its return plus the turnaround). A waitlisted reservation holds
-- no unit; the waitlist is served in `queue_number` order, which is the order in which the requests
-- took their kind's lock (every step that sets units aside takes it), so a position given in an
-- answer never changes but by those ahead leaving. Tied to a booking or to a hold (and
-- through the hold to the booking it became), or to neither (a ticket bought at the door). Only the
-- SHA-256 of the patron's secret is stored.
CREATE TABLE device_reservation (
    id uuid PRIMARY KEY,
    queue_number bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    screening_id uuid NOT NULL REFERENCES screening (id),
    venue_id uuid NOT NULL REFERENCES venue (id),
    kind text NOT NULL
        CHECK (kind IN ('assistive_listening', 'neckloop', 'captioning', 'audio_description')),
    status text NOT NULL CHECK (status IN ('waitlisted', 'reserved', 'checked_out', 'returned',
                                           'cancelled', 'no_show', 'lapsed')),
    span tstzrange NOT NULL CHECK (NOT isempty(span)),
    device_id uuid,
    secret_hash bytea NOT NULL UNIQUE,
    client_id text NOT NULL,
    patron_name text NOT NULL,
    patron_email text,
    booking_id uuid,
    hold_id uuid,
    requested_at timestamptz NOT NULL,
    reserved_at timestamptz,
    checked_out_at timestamptz,
    returned_at timestamptz,
    ended_at timestamptz,
    ended_by text CHECK (ended_by IN ('patron', 'staff', 'booking', 'hold', 'screening', 'system')),
    end_reason text,
    overdue_at timestamptz,
    version integer NOT NULL DEFAULT 1,
    FOREIGN KEY (booking_id, screening_id) REFERENCES booking (id, screening_id),
    FOREIGN KEY (hold_id, screening_id) REFERENCES hold (id, screening_id),
    -- the unit is of the reservation's kind, in its venue
    FOREIGN KEY (device_id, venue_id, kind) REFERENCES device (id, venue_id, kind),
    CHECK (booking_id IS NULL OR hold_id IS NULL),
    CHECK (status NOT IN ('reserved', 'checked_out', 'returned')
           OR (device_id IS NOT NULL AND reserved_at IS NOT NULL)),
    CHECK (status <> 'waitlisted' OR device_id IS NULL),
    CHECK (status NOT IN ('checked_out', 'returned') OR checked_out_at IS NOT NULL),
    CHECK (status <> 'returned' OR returned_at IS NOT NULL),
    CHECK ((status IN ('cancelled', 'no_show', 'lapsed')) = (ended_at IS NOT NULL AND ended_by IS NOT NULL)),
    CONSTRAINT device_never_lent_twice EXCLUDE USING gist (device_id WITH =, span WITH &&)
        WHERE (status IN ('reserved', 'checked_out', 'returned'))
);
CREATE INDEX device_reservation_waitlist ON device_reservation (venue_id, kind, queue_number)
    WHERE status = 'waitlisted';
CREATE INDEX device_reservation_screening ON device_reservation (screening_id, kind, status);
CREATE INDEX device_reservation_live ON device_reservation (status)
    WHERE status IN ('waitlisted', 'reserved', 'checked_out');
CREATE INDEX device_reservation_hold ON device_reservation (hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX device_reservation_booking ON device_reservation (booking_id)
    WHERE booking_id IS NOT NULL;
CREATE INDEX device_reservation_client ON device_reservation (screening_id, client_id)
    WHERE status IN ('waitlisted', 'reserved');
