-- The outbox and processed_event, range-partitioned by day so retention drops whole partitions
-- instead of deleting rows (services/db/partitions.py; docs/scaling.md section 2).
--
-- The partition key is `event_id`. Event ids are UUIDv7 (services/ids.py): their first 48 bits
-- are the Unix milliseconds at which the event was made, so a range of ids is a range of time,
-- and one day is [uuid7 floor of its midnight, uuid7 floor of the next midnight) in UTC.
-- Keying on the id rather than a timestamp column keeps the uniqueness the code relies on: a
-- partitioned table's unique constraints must contain the partition key, and here they can stay
-- exactly as they were. `(consumer, event_id)` is still the whole key of processed_event, so a
-- re-delivered event always lands in the same partition and conflicts with its first record
-- (the consumers' ON CONFLICT DO NOTHING, workers/consumers.py), whatever the day it comes back;
-- `event_id` stays unique across the outbox (the relay's and replay's lookups by event id).
-- `position` stays the relay's order (an index per partition, merged across them); it comes
-- from one identity sequence, so it stays unique without a constraint.
--
-- A DEFAULT partition catches any row no day partition covers (an id that is not a UUIDv7, a
-- clock far off, a worker that did not create partitions for days); creating the day's
-- partition later moves its rows out of the default. Existing rows are carried over.

-- The first UUIDv7 of a moment: its Unix milliseconds in 48 bits, every other bit zero.
CREATE FUNCTION uuid7_floor(moment timestamptz) RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM moment) * 1000)::bigint), 12, '0')
            || '00000000000000000000')::uuid
$$;

-- The UTC day a UUIDv7 was made on; NULL for any other UUID version.
CREATE FUNCTION uuid7_day(id uuid) RETURNS date LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN substr(id::text, 15, 1) = '7' THEN
        (to_timestamp(('x' || substr(replace(id::text, '-', ''), 1, 12))::bit(48)::bigint
                      / 1000.0) AT TIME ZONE 'UTC')::date
    END
$$;

-- Make `parent`'s partition for `day` (named <parent>_pYYYYMMDD) unless it exists. Rows of that
-- day already in the default partition are moved into it first, all under a lock on `parent`,
-- so no row is lost or left behind. Returns whether it made the partition. Idempotent, and
-- safe when two callers race (the second waits on the lock and then finds the partition).
CREATE FUNCTION event_partition_create(parent regclass, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    name text := parent::text || '_p' || to_char(day, 'YYYYMMDD');
    fallback text := parent::text || '_default';
    low uuid := uuid7_floor(day::timestamp AT TIME ZONE 'UTC');
    high uuid := uuid7_floor((day + 1)::timestamp AT TIME ZONE 'UTC');
    strays boolean;
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', parent);
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE event_id >= $1 AND event_id < $2)',
                   fallback) INTO strays USING low, high;
    IF strays THEN
        EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS)', name, parent);
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE event_id >= $1 AND event_id < $2'
                       ' RETURNING *) INSERT INTO %I SELECT * FROM moved', fallback, name)
            USING low, high;
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       parent, name, low, high);
    ELSE
        EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                       name, parent, low, high);
    END IF;
    RETURN true;
END;
$$;

-- The outbox, partitioned (columns, defaults and the doorbell trigger as before).
ALTER TABLE outbox RENAME TO outbox_unpartitioned;
DROP TRIGGER outbox_notify ON outbox_unpartitioned;

CREATE TABLE outbox (
    position bigint GENERATED ALWAYS AS IDENTITY,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    venue_id uuid,
    payload jsonb NOT NULL,
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
) PARTITION BY RANGE (event_id);
CREATE TABLE outbox_default PARTITION OF outbox DEFAULT;

-- processed_event, partitioned by the same key and bounds.
ALTER TABLE processed_event RENAME TO processed_event_unpartitioned;

CREATE TABLE processed_event (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (event_id);
CREATE TABLE processed_event_default PARTITION OF processed_event DEFAULT;

-- A partition for every day the existing rows were made on (the last 400 days at most; older
-- or non-UUIDv7 ids go to the default), then the rows themselves.
SELECT event_partition_create('outbox', day)
FROM (SELECT DISTINCT uuid7_day(event_id) AS day FROM outbox_unpartitioned) AS days
WHERE day BETWEEN current_date - 400 AND current_date + 30;
SELECT event_partition_create('processed_event', day)
FROM (SELECT DISTINCT uuid7_day(event_id) AS day FROM processed_event_unpartitioned) AS days
WHERE day BETWEEN current_date - 400 AND current_date + 30;

INSERT INTO outbox OVERRIDING SYSTEM VALUE
SELECT position, event_id, event_type, aggregate_type, aggregate_id, venue_id, payload, txid,
       recorded_at, published_at
FROM outbox_unpartitioned;
SELECT setval(pg_get_serial_sequence('outbox', 'position'),
              coalesce((SELECT max(position) FROM outbox_unpartitioned), 0) + 1, false);
INSERT INTO processed_event (consumer, event_id, processed_at)
SELECT consumer, event_id, processed_at FROM processed_event_unpartitioned;

DROP TABLE outbox_unpartitioned;
DROP TABLE processed_event_unpartitioned;
-- The new identity's sequence took a suffixed name while the old one existed: give it the name.
DO $$
BEGIN
    EXECUTE format('ALTER SEQUENCE %s RENAME TO outbox_position_seq',
                   pg_get_serial_sequence('outbox', 'position'));
END;
$$;

-- Keys and indexes, made once the rows are in (each is created on every partition, and on
-- every partition made later).
ALTER TABLE outbox ADD PRIMARY KEY (event_id);
CREATE INDEX outbox_position ON outbox (position);
CREATE INDEX outbox_unpublished ON outbox (position) WHERE published_at IS NULL;
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;
ALTER TABLE processed_event ADD PRIMARY KEY (consumer, event_id);
CREATE INDEX processed_event_age ON processed_event (processed_at);

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
