-- Notification emails: one row per email a patron is to receive (workers/emails, docs/emails.md).
--
-- A row is written by the `emails` consumer in the transaction that records its event as
-- processed (or by the reminder job), and sent by an arq job. (event_id, lower(recipient), kind)
-- is the idempotency key: a redelivered event or a re-run job finds the row and sends nothing new.
-- `event_id` is the event that caused the email; a reminder, which no event causes, carries a
-- name-based UUID of its booking (one reminder per booking).
--
-- Status: queued -> sending -> sent | failed; a temporary SMTP failure puts the row back to
-- queued with a later `next_attempt_at`. A row left in `sending` past `lease_until` belongs to a
-- worker that died mid-send: it is sent again (at-least-once, with the same Message-ID).
CREATE TABLE email (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    recipient text NOT NULL CHECK (recipient ~ '^[^@\s]+@[^@\s]+$'),
    recipient_name text NOT NULL DEFAULT '',
    event_id uuid NOT NULL,
    venue_id uuid REFERENCES venue (id),
    screening_id uuid REFERENCES screening (id),
    booking_id uuid REFERENCES booking (id),
    context jsonb NOT NULL,
    message_id text NOT NULL UNIQUE,
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending', 'sent', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    resends integer NOT NULL DEFAULT 0 CHECK (resends >= 0),
    last_error text,
    failure text CHECK (failure IN ('permanent', 'exhausted')),
    next_attempt_at timestamptz NOT NULL,
    lease_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    failed_at timestamptz,
    CHECK ((status = 'sending') = (lease_until IS NOT NULL)),
    CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
    CHECK ((status = 'failed') = (failed_at IS NOT NULL AND failure IS NOT NULL))
);
CREATE UNIQUE INDEX email_once ON email (event_id, lower(recipient), kind);
-- what the sweep looks at: queued rows whose job may be lost, sending rows whose worker may be
-- dead; and what staff look at: failures and retries, newest first
CREATE INDEX email_due ON email (next_attempt_at) WHERE status = 'queued';
CREATE INDEX email_leased ON email (lease_until) WHERE status = 'sending';
CREATE INDEX email_updated ON email (status, updated_at DESC, id);
CREATE INDEX email_booking ON email (booking_id, kind) WHERE booking_id IS NOT NULL;
CREATE INDEX email_screening ON email (screening_id) WHERE screening_id IS NOT NULL;
