-- The box office: holds, bookings, and the one claim per seat per screening that makes
-- overselling impossible whatever the timing of the requests.

-- A hold: seats kept for one box-office client for a few minutes. `status` says how it ended;
-- a hold with status 'live' whose expires_at has passed is dead all the same (every read and write
-- compares expires_at with the clock), the worker only tidies it up and records HoldExpired.
-- Only the SHA-256 of the hold token is stored.
CREATE TABLE hold (
    id uuid PRIMARY KEY,
    screening_id uuid NOT NULL REFERENCES screening (id),
    venue_id uuid NOT NULL REFERENCES venue (id),
    token_hash bytea NOT NULL UNIQUE,
    client_id text NOT NULL,
    status text NOT NULL DEFAULT 'live'
        CHECK (status IN ('live', 'released', 'expired', 'confirmed', 'cancelled')),
    seat_ids uuid[] NOT NULL,
    wheelchair_spaces integer NOT NULL DEFAULT 0 CHECK (wheelchair_spaces >= 0),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    latest_expiry timestamptz NOT NULL,
    extensions integer NOT NULL DEFAULT 0 CHECK (extensions >= 0),
    version integer NOT NULL DEFAULT 1,
    ended_at timestamptz,
    CHECK (expires_at > created_at AND expires_at <= latest_expiry),
    CHECK ((status = 'live') = (ended_at IS NULL)),
    UNIQUE (id, screening_id)
);
CREATE INDEX hold_live_expiry ON hold (expires_at) WHERE status = 'live';
CREATE INDEX hold_live_client ON hold (client_id) WHERE status = 'live';
CREATE INDEX hold_live_screening ON hold (screening_id) WHERE status = 'live';

-- A booking: a confirmed hold. `reference` is short and read aloud at the till; the patron's
-- secret is stored as its SHA-256 only. One booking per hold; the Idempotency-Key and a hash of
-- the confirm body let a retried confirm answer the same booking.
CREATE TABLE booking (
    id uuid PRIMARY KEY,
    reference text NOT NULL UNIQUE,
    screening_id uuid NOT NULL REFERENCES screening (id),
    venue_id uuid NOT NULL REFERENCES venue (id),
    hold_id uuid NOT NULL UNIQUE REFERENCES hold (id),
    patron_name text NOT NULL,
    patron_email text NOT NULL,
    payment_reference text,
    secret_hash bytea NOT NULL,
    idempotency_key text NOT NULL,
    request_hash bytea NOT NULL,
    currency char(3) NOT NULL,
    total integer NOT NULL CHECK (total >= 0),
    status text NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'cancelled')),
    refund_due boolean NOT NULL DEFAULT false,
    cancelled_by text CHECK (cancelled_by IN ('patron', 'staff', 'screening')),
    cancel_reason text,
    created_at timestamptz NOT NULL,
    cancelled_at timestamptz,
    version integer NOT NULL DEFAULT 1,
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL AND cancelled_by IS NOT NULL)),
    UNIQUE (id, screening_id)
);
CREATE INDEX booking_screening ON booking (screening_id, created_at);
CREATE INDEX booking_refund_due ON booking (screening_id) WHERE refund_due;

CREATE TABLE booking_seat (
    booking_id uuid NOT NULL REFERENCES booking (id),
    seat_id uuid NOT NULL REFERENCES seat (id),
    ticket_type text NOT NULL,
    amount integer NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (booking_id, seat_id)
);

-- The arbiter: at most one claim per seat per screening. A claim is a hold's (dead once
-- expires_at passes, and then taken over in place by the next claimant), a booking's, or a
-- staff block (house seats). Claims are inserted in seat order, so concurrent holds lock rows in
-- one order and never deadlock.
CREATE TABLE seat_claim (
    screening_id uuid NOT NULL REFERENCES screening (id),
    seat_id uuid NOT NULL REFERENCES seat (id),
    kind text NOT NULL CHECK (kind IN ('hold', 'booking', 'block')),
    hold_id uuid,
    booking_id uuid,
    expires_at timestamptz,
    claimed_at timestamptz NOT NULL,
    note text,
    PRIMARY KEY (screening_id, seat_id),
    FOREIGN KEY (hold_id, screening_id) REFERENCES hold (id, screening_id),
    FOREIGN KEY (booking_id, screening_id) REFERENCES booking (id, screening_id),
    CHECK (kind <> 'hold' OR (hold_id IS NOT NULL AND expires_at IS NOT NULL AND booking_id IS NULL)),
    CHECK (kind <> 'booking' OR (booking_id IS NOT NULL AND expires_at IS NULL)),
    CHECK (kind <> 'block' OR (hold_id IS NULL AND booking_id IS NULL AND expires_at IS NULL))
);
CREATE INDEX seat_claim_hold ON seat_claim (hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX seat_claim_booking ON seat_claim (booking_id) WHERE booking_id IS NOT NULL;
