-- What the relay last saw Redis acknowledge: the stream entry id and event id of its newest
-- published batch (one row per stream, i.e. per USHER_REDIS_PREFIX). A Redis that comes back without that entry (restarted empty, a
-- failover to a replica that had not received it) lost acknowledged writes: the relay then
-- re-publishes from the outbox what was published after the newest entry that survived
-- (workers/relay.py, docs/operations.md).
CREATE TABLE relay_mark (
    stream text PRIMARY KEY,
    stream_id text NOT NULL,
    event_id uuid NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now()
);
