-- The relay's doorbell rings once per wake-up (workers/relay.py). Before, every writer NOTIFYed
-- while the bell was armed, and PostgreSQL serializes the commits of all transactions that sent
-- a NOTIFY (a lock on the whole cluster's notification queue, held through the WAL flush): with
-- events coming at 50-200/s, below the relay's busy rate, every commit queued behind the
-- others, the rate fell further and the bell stayed armed (bench/door_profile.py saw half of
-- the door's PostgreSQL time waiting on that lock, Lock/object). Now the writer that finds the
-- bell armed disarms it and is the only one to NOTIFY; a writer that finds it disarmed, or
-- being disarmed by another (SKIP LOCKED: it never waits), skips its NOTIFY. The relay arms the
-- bell again once it has published what woke it, and before it sleeps waits for every
-- transaction that may have seen the bell disarmed, as it did after a busy spell: so no
-- writer is missed. A missing row still means "notify" (unlogged: gone after a crash).
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    armed boolean;
BEGIN
    SELECT d.armed INTO armed FROM outbox_doorbell d WHERE d.id;
    IF NOT FOUND THEN
        PERFORM pg_notify('usher_outbox', '');
    ELSIF armed THEN
        UPDATE outbox_doorbell d SET armed = false
        WHERE d.id IN (SELECT e.id FROM outbox_doorbell e WHERE e.id AND e.armed
                       FOR UPDATE SKIP LOCKED);
        IF FOUND THEN
            PERFORM pg_notify('usher_outbox', '');
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
