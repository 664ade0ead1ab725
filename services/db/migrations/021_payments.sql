-- Money in and out: checkouts (a hold waiting for its payment), payments, refunds and the
-- payment providers' callbacks. The invariant: every successful payment ends as exactly one
-- booking (seated or "paid, not seated") and refunds never exceed what was paid
-- (docs/money.md).

-- A booking that was paid after its hold died and whose seats were gone: 'unseated'
-- ("paid, not seated"): the money is recorded and a refund is due.
ALTER TABLE booking DROP CONSTRAINT booking_status_check;
ALTER TABLE booking
    ADD CONSTRAINT booking_status_check CHECK (status IN ('confirmed', 'cancelled', 'unseated')),
    -- Running sums of the booking's payments and refunds, kept in the same transaction as
    -- each payment and refund row: the CHECK is what stops a refund past what was paid.
    ADD COLUMN paid integer NOT NULL DEFAULT 0 CHECK (paid >= 0),
    ADD COLUMN refunded integer NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    ADD CONSTRAINT booking_refund_within_paid CHECK (refunded <= paid);

-- A checkout: a live hold whose prices are fixed and whose patron is paying. The hold's clock
-- stops for checkout_minutes (never past its latest expiry plus that window); the request is
-- kept so that the payment can make the booking without the client.
CREATE TABLE checkout (
    id uuid PRIMARY KEY,
    hold_id uuid NOT NULL UNIQUE REFERENCES hold (id),
    screening_id uuid NOT NULL REFERENCES screening (id),
    venue_id uuid NOT NULL REFERENCES venue (id),
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'failed', 'expired')),
    currency char(3) NOT NULL,
    amount integer NOT NULL CHECK (amount >= 0),
    request jsonb NOT NULL,
    idempotency_key text NOT NULL,
    request_hash bytea NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    booking_id uuid REFERENCES booking (id),
    ended_at timestamptz,
    CHECK ((status = 'open') = (ended_at IS NULL)),
    CHECK ((status = 'paid') = (booking_id IS NOT NULL))
);

-- A payment: from a provider's callback (provider + provider_payment_id unique: a payment is
-- recorded once however often it is reported) or recorded by staff at the till.
CREATE TABLE payment (
    id uuid PRIMARY KEY,
    booking_id uuid NOT NULL REFERENCES booking (id),
    venue_id uuid NOT NULL REFERENCES venue (id),
    checkout_id uuid REFERENCES checkout (id),
    method text NOT NULL CHECK (method IN ('provider', 'cash', 'card')),
    provider text,
    provider_payment_id text,
    amount integer NOT NULL CHECK (amount > 0),
    currency char(3) NOT NULL,
    recorded_at timestamptz NOT NULL,
    recorded_by uuid REFERENCES staff_user (id),
    CHECK ((method = 'provider') = (provider IS NOT NULL AND provider_payment_id IS NOT NULL)),
    UNIQUE (provider, provider_payment_id)
);
CREATE INDEX payment_booking ON payment (booking_id);
CREATE INDEX payment_venue_time ON payment (venue_id, recorded_at);

-- A refund as it happened (full or partial): what, why, how, by whom.
CREATE TABLE refund (
    id uuid PRIMARY KEY,
    booking_id uuid NOT NULL REFERENCES booking (id),
    venue_id uuid NOT NULL REFERENCES venue (id),
    amount integer NOT NULL CHECK (amount > 0),
    currency char(3) NOT NULL,
    reason text NOT NULL,
    method text NOT NULL CHECK (method IN ('provider', 'cash', 'card', 'voucher', 'other')),
    provider_reference text,
    recorded_at timestamptz NOT NULL,
    recorded_by uuid NOT NULL REFERENCES staff_user (id)
);
CREATE INDEX refund_booking ON refund (booking_id);
CREATE INDEX refund_venue_time ON refund (venue_id, recorded_at);

-- A provider's callback, stored first by its event id (a duplicate is a no-op), answered at
-- once, acted on after (processed_at, outcome).
CREATE TABLE payment_callback (
    provider text NOT NULL,
    event_id text NOT NULL,
    received_at timestamptz NOT NULL,
    body bytea NOT NULL,
    processed_at timestamptz,
    outcome text,
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX payment_callback_unprocessed ON payment_callback (received_at)
    WHERE processed_at IS NULL;
