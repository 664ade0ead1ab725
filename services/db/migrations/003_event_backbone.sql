-- The event backbone: what each consumer group has processed, the first read model fed from the
-- stream, and an index to prune published outbox rows (workers/relay.py, workers/consumers/).

-- One row per (consumer group, event) whose effect was committed. The consumer inserts it in the
-- same transaction as the handler's effect, so a re-delivered or re-published event is dropped.
-- Rows older than the stream's retention are pruned: no duplicate can arrive after that.
CREATE TABLE processed_event (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX processed_event_age ON processed_event (processed_at);

-- The newest event of each aggregate (a film, a screening, a hold, ...), kept by the `last-event`
-- consumer group: a cheap "what changed last, and when" for caches, ETags and staff screens.
-- `stream_ms`/`stream_seq` are the Redis Stream id of that event; an older entry arriving late
-- (a retried delivery) never overwrites a newer one. `events_seen` counts every event applied.
CREATE TABLE aggregate_last_event (
    aggregate_type text NOT NULL,
    aggregate_id text NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    occurred_at timestamptz NOT NULL,
    stream_ms bigint NOT NULL,
    stream_seq bigint NOT NULL,
    events_seen bigint NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (aggregate_type, aggregate_id)
);

CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- The relay's doorbell. PostgreSQL serializes the commits of all transactions that sent a NOTIFY
-- (a global lock held through the commit's WAL flush), which caps event-writing transactions near
-- one per fsync. So the outbox trigger notifies only while the relay has armed the doorbell
-- (it is idle); a busy relay polls instead. Unlogged: after a crash the row is gone, and a missing
-- row means "notify". The relay keeps it (workers/relay.py).
CREATE UNLOGGED TABLE outbox_doorbell (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    armed boolean NOT NULL
);
INSERT INTO outbox_doorbell (id, armed) VALUES (true, true);

CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce((SELECT armed FROM outbox_doorbell WHERE id), true) THEN
        PERFORM pg_notify('usher_outbox', '');
    END IF;
    RETURN NULL;
END;
$$;
