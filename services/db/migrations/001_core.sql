-- Core: extensions, staff accounts and their audit trail, and the transactional outbox.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE staff_user (
    id uuid PRIMARY KEY,
    email text NOT NULL,
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('staff', 'manager')),
    password_hash text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX staff_user_email_key ON staff_user (lower(email));

-- Who did what, when: every staff write leaves a row here in the same transaction.
CREATE TABLE staff_action (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    staff_id uuid REFERENCES staff_user (id),
    action text NOT NULL,
    subject_type text NOT NULL,
    subject_id text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX staff_action_subject ON staff_action (subject_type, subject_id);

-- The outbox: written only by services/outbox.py, in the transaction of the change it records.
-- `position` orders rows; `txid` lets the relay wait for transactions still in flight, so a row
-- with a lower position that commits later is never skipped.
CREATE TABLE outbox (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    event_type text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    venue_id uuid,
    payload jsonb NOT NULL,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL;

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('usher_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
