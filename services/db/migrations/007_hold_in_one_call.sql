-- A new hold in one round trip (services/box_office/store/_holds.py calls it, in autocommit).
--
-- Making a hold used to take six statements inside BEGIN ... COMMIT: eight round trips, each
-- costing the API and PostgreSQL more CPU than the work itself. This function runs the same
-- steps, in the same order, with the same locks, as one statement; a refusal after a write
-- raises, so the statement, and with it everything it wrote, is rolled back: all or nothing.
--
-- Steps (each SQL statement of a VOLATILE function takes a fresh snapshot, so the reads after
-- the locks see everything committed before the locks were granted):
-- 1. the screening's sales lock, shared (only its cancellation takes it exclusively, and so
--    waits for holds being made), and the client's lock (one new hold per client at a time);
-- 2. the screening: it exists, is on sale or sold out, has not started; the venue's hold time
--    is the one the caller computed expires_at from (it caches it), else 'hold time changed';
-- 3. the client's live holds are under the limit;
-- 4. the hold row, then its claims: free seats by INSERT ... ON CONFLICT DO NOTHING in seat
--    order, then, for the seats left, the claims of dead holds taken over in place, in seat
--    order (store/_claims.py explains why two steps); a seat still missing raises SQLSTATE
--    UH409 with the missing seat ids in DETAIL, and nothing stays written;
-- 5. the SeatsHeld event into the outbox, as services/outbox.py would write it (the caller
--    passes the row outbox.event_row() makes).
-- Outcomes other than 'held' return before any write.
CREATE FUNCTION box_office_make_hold(
    p_id uuid,
    p_screening_id uuid,
    p_venue_id uuid,
    p_token_hash bytea,
    p_client_id text,
    p_seat_ids uuid[],
    p_wheelchair_spaces integer,
    p_now timestamptz,
    p_expires_at timestamptz,
    p_latest_expiry timestamptz,
    p_hold_minutes integer,
    p_max_live_holds integer,
    p_event_id uuid,
    p_event_type text,
    p_event_aggregate_type text,
    p_event_aggregate_id text,
    p_event_venue_id uuid,
    p_event_payload jsonb,
    OUT outcome text,
    OUT sale_status text,
    OUT starts_at timestamptz,
    OUT hold_minutes integer,
    OUT live_holds integer
) LANGUAGE plpgsql AS $$
DECLARE
    v_claimed uuid[];
    v_missing uuid[];
BEGIN
    PERFORM pg_advisory_xact_lock_shared(4, hashtext(p_screening_id::text)),
            pg_advisory_xact_lock(5, hashtext(p_client_id));

    SELECT s.status, s.starts_at, v.hold_minutes
      INTO sale_status, starts_at, hold_minutes
      FROM screening s JOIN venue v ON v.id = s.venue_id
     WHERE s.id = p_screening_id;
    IF NOT FOUND THEN
        outcome := 'no screening';
        RETURN;
    END IF;
    IF sale_status NOT IN ('on_sale', 'sold_out') OR starts_at <= p_now THEN
        outcome := 'not sellable';
        RETURN;
    END IF;
    IF hold_minutes <> p_hold_minutes THEN
        outcome := 'hold time changed';
        RETURN;
    END IF;

    SELECT count(*) INTO live_holds FROM hold h
     WHERE h.client_id = p_client_id AND h.status = 'live' AND h.expires_at > p_now;
    IF live_holds >= p_max_live_holds THEN
        outcome := 'too many holds';
        RETURN;
    END IF;

    INSERT INTO hold (id, screening_id, venue_id, token_hash, client_id, seat_ids,
                      wheelchair_spaces, created_at, expires_at, latest_expiry)
    VALUES (p_id, p_screening_id, p_venue_id, p_token_hash, p_client_id, p_seat_ids,
            p_wheelchair_spaces, p_now, p_expires_at, p_latest_expiry);

    WITH claimed AS (
        INSERT INTO seat_claim (screening_id, seat_id, kind, hold_id, expires_at, claimed_at)
        SELECT p_screening_id, seat_id, 'hold', p_id, p_expires_at, p_now
          FROM unnest(p_seat_ids) AS seat_id ORDER BY seat_id
        ON CONFLICT (screening_id, seat_id) DO NOTHING
        RETURNING seat_id
    )
    SELECT coalesce(array_agg(seat_id), '{}') INTO v_claimed FROM claimed;

    IF cardinality(v_claimed) < cardinality(p_seat_ids) THEN
        v_missing := ARRAY(SELECT seat_id FROM unnest(p_seat_ids) AS seat_id
                            WHERE seat_id <> ALL (v_claimed) ORDER BY seat_id);
        WITH taken_over AS (
            UPDATE seat_claim c SET kind = 'hold', hold_id = p_id, booking_id = NULL,
                                    expires_at = p_expires_at, claimed_at = p_now, note = NULL
              FROM (SELECT screening_id, seat_id FROM seat_claim
                     WHERE screening_id = p_screening_id AND seat_id = ANY (v_missing)
                       AND kind = 'hold' AND expires_at <= p_now
                     ORDER BY seat_id FOR UPDATE) AS dead
             WHERE c.screening_id = dead.screening_id AND c.seat_id = dead.seat_id
               AND c.kind = 'hold' AND c.expires_at <= p_now
            RETURNING c.seat_id
        )
        SELECT ARRAY(SELECT seat_id FROM unnest(v_missing) AS seat_id
                      WHERE seat_id NOT IN (SELECT seat_id FROM taken_over))
          INTO v_missing;
        IF cardinality(v_missing) > 0 THEN
            RAISE EXCEPTION 'seats taken' USING ERRCODE = 'UH409',
                DETAIL = array_to_string(v_missing, ' ');
        END IF;
    END IF;

    INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, venue_id, payload)
    VALUES (p_event_id, p_event_type, p_event_aggregate_type, p_event_aggregate_id,
            p_event_venue_id, p_event_payload);
    outcome := 'held';
END;
$$;
