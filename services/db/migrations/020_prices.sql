-- Prices beyond the ticket types of a screening: the venue's booking fee and tax rate, discount
-- codes with use limits, memberships, and a breakdown of every booked seat's price.
-- All amounts are integers in minor units; prices include tax (docs/money.md).

ALTER TABLE venue
    -- Added to each ticket that costs something; includes tax like every price.
    ADD COLUMN booking_fee integer NOT NULL DEFAULT 0 CHECK (booking_fee >= 0),
    -- The tax rate included in prices, in basis points (600 = 6 %).
    ADD COLUMN tax_rate_bp integer NOT NULL DEFAULT 0 CHECK (tax_rate_bp BETWEEN 0 AND 10000),
    -- How long a hold in checkout waits for its payment (docs/money.md, "Checkout").
    ADD COLUMN checkout_minutes integer NOT NULL DEFAULT 15 CHECK (checkout_minutes BETWEEN 1 AND 120),
    -- At most this many member-price tickets in one booking.
    ADD COLUMN member_tickets_per_booking integer NOT NULL DEFAULT 2
        CHECK (member_tickets_per_booking BETWEEN 0 AND 100);

-- A discount code: fixed (minor units off each ticket) or percent (off each ticket's price);
-- valid for a film, a series, listed screenings and/or a date range (each restriction that is set
-- must hold). `uses` counts the bookings and live holds that took it: the CHECK keeps it within
-- max_uses whatever the concurrency.
CREATE TABLE discount_code (
    id uuid PRIMARY KEY,
    venue_id uuid NOT NULL REFERENCES venue (id),
    code text NOT NULL CHECK (code = upper(code) AND length(code) BETWEEN 3 AND 32),
    kind text NOT NULL CHECK (kind IN ('fixed', 'percent')),
    amount integer NOT NULL CHECK (
        (kind = 'fixed' AND amount > 0) OR (kind = 'percent' AND amount BETWEEN 1 AND 100)),
    film_id uuid REFERENCES film (id),
    series_id uuid REFERENCES series (id),
    screening_ids uuid[],
    valid_from date,
    valid_until date,
    max_uses integer CHECK (max_uses > 0),
    per_patron_limit integer CHECK (per_patron_limit > 0),
    uses integer NOT NULL DEFAULT 0 CHECK (uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL,
    created_by uuid REFERENCES staff_user (id),
    CHECK (valid_until IS NULL OR valid_from IS NULL OR valid_until >= valid_from),
    UNIQUE (venue_id, code)
);

-- One use of a code: by a hold (given back when the hold ends without a booking) that becomes
-- a booking's. patron_email is lower-cased; the per-patron limit counts these rows.
CREATE TABLE discount_use (
    code_id uuid NOT NULL REFERENCES discount_code (id),
    hold_id uuid NOT NULL REFERENCES hold (id),
    booking_id uuid REFERENCES booking (id),
    patron_email text NOT NULL,
    used_at timestamptz NOT NULL,
    PRIMARY KEY (code_id, hold_id)
);
CREATE INDEX discount_use_patron ON discount_use (code_id, patron_email);
CREATE UNIQUE INDEX discount_use_hold ON discount_use (hold_id);

-- A membership: a member price needs a valid, unexpired number from this list.
CREATE TABLE membership (
    id uuid PRIMARY KEY,
    venue_id uuid NOT NULL REFERENCES venue (id),
    number text NOT NULL CHECK (length(number) BETWEEN 1 AND 32),
    name text NOT NULL,
    email text,
    valid_from date NOT NULL,
    expires_on date NOT NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL,
    CHECK (expires_on >= valid_from),
    UNIQUE (venue_id, number)
);

-- Each booked seat's price: list_price (the ticket type's), less discount, plus fee, is amount
-- (the existing column); tax is the share of amount that is tax (docs/money.md, "Tax").
ALTER TABLE booking_seat
    ADD COLUMN list_price integer,
    ADD COLUMN discount integer NOT NULL DEFAULT 0 CHECK (discount >= 0),
    ADD COLUMN fee integer NOT NULL DEFAULT 0 CHECK (fee >= 0),
    ADD COLUMN tax integer NOT NULL DEFAULT 0 CHECK (tax >= 0),
    ADD COLUMN membership_number text;
UPDATE booking_seat SET list_price = amount WHERE list_price IS NULL;
ALTER TABLE booking_seat
    ALTER COLUMN list_price SET NOT NULL,
    ADD CHECK (list_price >= 0 AND discount <= list_price
               AND amount = list_price - discount + fee AND tax <= amount);

ALTER TABLE booking ADD COLUMN discount_code text;
