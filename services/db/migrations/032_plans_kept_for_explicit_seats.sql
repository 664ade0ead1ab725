-- A claim makes no plan for itself any more: the statements that read its seats go seat by
-- seat, and the live-holds count is static again, on plans each connection makes once.
--
-- PostgreSQL keeps a plan for each statement of a PL/pgSQL function, but a statement with
-- parameters is planned afresh for every call (a custom plan) while that plan looks cheaper
-- than the one made without the parameters' values (the generic plan). `seat_id = ANY
-- (p_seat_ids)` is such a statement: with the array's values the planner counts its seats (2),
-- without them it assumes 10, so the generic plan looks five times dearer and is never used.
-- Measured with pg_stat_statements (track_planning) over 2,000 explicit-seat holds made one
-- at a time on a 5,000-seat hall: 466 us of PostgreSQL time a claim, of which planning took
-- 52 us for box_office_take_seats' DELETE of the seats' free rows and 32 us for the seat-kind
-- check, more than running them (16 and 6 us).
-- Forcing the generic plan (plan_cache_mode) was tried and is not safe: made on a database
-- without statistics, it read every free seat of the screening to find two, or every seat of
-- every hall. So they now go seat by seat, each statement finding one row by its primary key:
-- the one plan there is, whatever the values, made once per connection.
-- 1. box_office_take_seats deletes the seats' free rows one by one, in seat order (the lock
--    order every statement that locks seats keeps);
-- 2. box_office_claim looks up the kind of each explicit seat, stopping at the first
--    wheelchair space or companion seat, before the seat-kind rule;
-- 3. for best available, box_office_take_window locks a window's free rows one by one, in seat
--    order, and box_office_claim reads the chosen seats' rows and labels one by one;
-- 4. the client's live holds are counted by a static statement again, not one parsed and
--    planned for each claim (EXECUTE, migration 031: 46 us of planning). Migration 031 had to:
--    every live-hold index had the predicate `status = 'live'`, so on a small hold table a
--    full scan of any of them cost what the client index did, and the plan a connection kept
--    could walk every live hold by expiry. hold_live_client's predicate is now
--    `ended_at IS NULL` (the same holds: hold's check ties the two), which the count asks for
--    and no other index has: the plan is the client index (or, made while a vacuumed hold
--    table was empty, a scan of it, until autovacuum's next analysis of the table makes it
--    again).
-- One explicit-seat hold at a time through the service layer, runs with and without this
-- migration in turn: 730-826 against 842-946 us a hold. bench/holds.py's figures:
-- docs/box-office.md.

-- A client's live holds (ended_at is NULL exactly while a hold is live: a check of hold says
-- so) are counted by an index that only this count can use, whatever the table holds.
DROP INDEX hold_live_client;
CREATE INDEX hold_live_client ON hold (client_id) WHERE ended_at IS NULL;

-- box_office_take_seats as in migration 014, its seats' free rows deleted one by one.
CREATE OR REPLACE FUNCTION box_office_take_seats(p_screening_id uuid, p_seat_ids uuid[],
                                                 p_kind text, p_hold_id uuid,
                                                 p_expires_at timestamptz, p_now timestamptz,
                                                 p_note text) RETURNS uuid[]
LANGUAGE plpgsql AS $$
DECLARE
    v_seat uuid;
    v_claimed uuid[];
    v_missing uuid[];
BEGIN
    -- In seat order, as every statement that locks seats takes them (no two transactions wait
    -- on each other in a cycle).
    FOREACH v_seat IN ARRAY ARRAY(SELECT DISTINCT unnest(p_seat_ids) ORDER BY 1) LOOP
        DELETE FROM seat_free f WHERE f.screening_id = p_screening_id AND f.seat_id = v_seat;
    END LOOP;

    WITH claimed AS (
        INSERT INTO seat_claim (screening_id, seat_id, kind, hold_id, expires_at, claimed_at,
                                note)
        SELECT p_screening_id, seat_id, p_kind, p_hold_id, p_expires_at, p_now, p_note
          FROM unnest(p_seat_ids) AS seat_id ORDER BY seat_id
        ON CONFLICT (screening_id, seat_id) DO NOTHING
        RETURNING seat_id
    )
    SELECT coalesce(array_agg(seat_id), '{}') INTO v_claimed FROM claimed;
    IF cardinality(v_claimed) = cardinality(p_seat_ids) THEN
        RETURN '{}';
    END IF;

    v_missing := ARRAY(SELECT seat_id FROM unnest(p_seat_ids) AS seat_id
                        WHERE seat_id <> ALL (v_claimed) ORDER BY seat_id);
    WITH taken_over AS (
        UPDATE seat_claim c SET kind = p_kind, hold_id = p_hold_id, booking_id = NULL,
                                expires_at = p_expires_at, claimed_at = p_now, note = p_note
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
    RETURN v_missing;
END;
$$;

-- box_office_take_window as in migration 030, each window's seats locked one by one, in seat
-- order.
CREATE OR REPLACE FUNCTION box_office_take_window(p_screening_id uuid, p_windows uuid[],
                                                  p_count integer, p_wheelchair integer,
                                                  p_wait boolean, p_skip uuid[],
                                                  OUT chosen uuid[], OUT rest uuid[],
                                                  OUT skip uuid[])
LANGUAGE plpgsql AS $$
DECLARE
    v_window uuid[];
    v_locked uuid[];
    v_missing uuid[];
    v_seat uuid;
    v_got uuid;
    v_claimed boolean;
BEGIN
    skip := '{}';
    FOR v_at IN 1 .. coalesce(cardinality(p_windows), 0) / p_count LOOP
        v_window := p_windows[(v_at - 1) * p_count + 1:v_at * p_count];
        CONTINUE WHEN v_window && p_skip OR v_window && skip;
        v_locked := '{}';
        v_missing := '{}';  -- seats whose free row is out of date: claimed, by a commit since
        FOREACH v_seat IN ARRAY ARRAY(SELECT unnest(v_window) ORDER BY 1) LOOP
            IF p_wait THEN
                SELECT f.seat_id, EXISTS (SELECT 1 FROM seat_claim c
                                           WHERE c.screening_id = p_screening_id
                                             AND c.seat_id = f.seat_id)
                  INTO v_got, v_claimed
                  FROM seat_free f
                 WHERE f.screening_id = p_screening_id AND f.seat_id = v_seat
                   AND (f.plain OR p_wheelchair > 0)
                   FOR UPDATE OF f;
            ELSE
                SELECT f.seat_id, EXISTS (SELECT 1 FROM seat_claim c
                                           WHERE c.screening_id = p_screening_id
                                             AND c.seat_id = f.seat_id)
                  INTO v_got, v_claimed
                  FROM seat_free f
                 WHERE f.screening_id = p_screening_id AND f.seat_id = v_seat
                   AND (f.plain OR p_wheelchair > 0)
                   FOR NO KEY UPDATE OF f SKIP LOCKED;
            END IF;
            CONTINUE WHEN NOT FOUND;
            v_locked := v_locked || v_got;
            IF v_claimed THEN
                v_missing := v_missing || v_got;
            END IF;
        END LOOP;
        IF cardinality(v_locked) = p_count AND cardinality(v_missing) = 0 THEN
            chosen := v_window;
            rest := p_windows[v_at * p_count + 1:];
            RETURN;
        END IF;
        FOREACH v_seat IN ARRAY v_missing LOOP
            DELETE FROM seat_free f WHERE f.screening_id = p_screening_id AND f.seat_id = v_seat;
        END LOOP;
        skip := skip || ARRAY(SELECT unnest(v_window) EXCEPT SELECT unnest(v_locked));
    END LOOP;
END;
$$;

-- box_office_claim as in migration 031, but for the seat-kind check, the labels of the seats
-- best available chose and the live-holds count.

-- Claim seats, with every rule a claim obeys, in one statement. `p_kind`:
-- - 'hold': a new hold p_hold_id, of p_seat_ids or, when NULL, the best p_count seats; the hold
--   row and its SeatsHeld outbox row (as services/outbox.py writes it, seat_ids and seat_labels
--   filled in here) are written with the claims;
-- - 'add': p_seat_ids added to the live hold p_hold_id (which gives up p_released seats in the
--   same change); the caller updates the hold row and records the event;
-- - 'block': p_seat_ids kept off sale by staff (p_note); the caller records the event.
-- Steps (each statement takes a fresh snapshot, so the reads after the locks see everything
-- committed before the locks were granted):
-- 1. the screening's sales lock, shared (its cancellation takes it exclusively, and so waits
--    for claims being made), and, for holds, the client's lock (one at a time per client, so
--    that its live holds and held seats cannot be raced past the limits);
-- 2. the screening: box_office_refusal; for a new hold, the venue's hold time is the one the
--    caller computed p_expires_at from (else 'hold time changed', nothing written);
-- 3. the client's live holds (new holds) and its seats held for this screening (holds, adds);
-- 4. the seats: explicit ones through box_office_take_seats (a seat missing raises SQLSTATE
--    UH409 with the seat ids in DETAIL, which rolls the statement back), or best available:
--    the windows an earlier choice left (seat_window), best first, each taken by one request
--    if its seats are still free (box_office_take_window), a pair split over two rows only
--    by a request that may be split; the request that takes the window marked `refill`
--    chooses the next ones then, if no other request is choosing (the chooser lock, tried,
--    until commit), passing over the seats of every window kept or being taken; when none is
--    left, one request at a time per screening (the chooser lock, until commit) looks again
--    at what the request ahead of it left, then chooses (box_office_choose: when it finds
--    nothing, the dead holds' claims of the screening are deleted first, their seats being
--    free, and it chooses again), takes the first of its windows it can, chooses again
--    without those another request is taking, and leaves the windows it did not try in
--    seat_window (box_office_keep_windows). When nothing is left but seats being taken by
--    others, it raises UH503 (nothing written) and the caller asks again with p_wait: then
--    it waits for those seats' fate.
-- A new hold with p_idempotency_key that this client already used answers 'replayed': the
-- hold in replay_of, the request it was made for in replay_hash (the caller compares).
-- Outcomes: 'held' (or 'added', 'blocked') with the seats; else a refusal written nowhere:
-- 'wheelchair space' or 'companion seat' (box_office_seat_kinds, over explicit seats, and for
-- 'add' the seats the hold keeps then those added: refused_seat names the seat), 'no
-- screening', box_office_refusal's reasons, 'hold time changed', 'too many holds', 'too many
-- seats', 'not enough seats', 'no seats together'.
CREATE OR REPLACE FUNCTION box_office_claim(
    p_kind text,
    p_screening_id uuid,
    p_hold_id uuid,
    p_client_id text,
    p_seat_ids uuid[],
    p_count integer,
    p_wheelchair integer,
    p_together boolean,
    p_wait boolean,
    p_now timestamptz,
    p_expires_at timestamptz,
    p_note text,
    p_released integer,
    p_max_live_holds integer,
    p_max_held_seats integer,
    p_token_hash bytea,
    p_latest_expiry timestamptz,
    p_hold_minutes integer,
    p_event_id uuid,
    p_event_type text,
    p_event_aggregate_type text,
    p_event_aggregate_id text,
    p_event_payload jsonb,
    p_idempotency_key text,
    p_request_hash bytea,
    OUT outcome text,
    OUT seat_ids uuid[],
    OUT how text,
    OUT sale_status text,
    OUT starts_at timestamptz,
    OUT on_sale_at timestamptz,
    OUT live_holds integer,
    OUT held_seats integer,
    OUT replay_of uuid,
    OUT replay_hash bytea,
    OUT refused_seat uuid,
    OUT settled boolean
) LANGUAGE plpgsql AS $$
DECLARE
    v_auditorium uuid;
    v_venue uuid;
    v_hold_minutes integer;
    v_count integer := coalesce(cardinality(p_seat_ids), p_count);
    v_skip uuid[] := '{}';
    v_chosen uuid[];
    v_more uuid[];
    v_window uuid[];
    v_how text;
    v_missing uuid[];
    v_chooser integer := hashtext(p_screening_id::text || '/' || p_count);  -- its lock's key
    v_choosing boolean := false;  -- this request holds the chooser lock
    v_labels text[];
    v_reclaimed boolean := false;
    v_refill boolean;  -- the window taken asks for the next ones
    v_next uuid[];
    v_next_how text;
    v_kinds boolean;  -- the seat-kind rule is to be checked
    v_seat uuid;
    v_rows integer[] := '{}';
    v_positions integer[] := '{}';
    v_names text[] := '{}';
BEGIN
    -- Which seat kinds the hold may have (a new hold's seats, only if one is a wheelchair space
    -- or a companion seat: the rule concerns no other kind). Seat by seat: see above.
    v_kinds := p_kind = 'add';
    IF p_kind = 'hold' THEN
        FOREACH v_seat IN ARRAY coalesce(p_seat_ids, '{}') LOOP
            SELECT h.kind IN ('wheelchair', 'companion') INTO v_kinds
              FROM hall_seat h WHERE h.seat_id = v_seat;
            EXIT WHEN v_kinds;
        END LOOP;
    END IF;
    IF v_kinds THEN
        SELECT k.seat_id, k.reason INTO refused_seat, outcome
          FROM box_office_seat_kinds(
                   CASE WHEN p_kind = 'add'  -- the seats the hold keeps, then those added
                        THEN ARRAY(SELECT s FROM hold h, unnest(h.seat_ids) WITH ORDINALITY
                                                          AS u(s, n)
                                    WHERE h.id = p_hold_id
                                      AND EXISTS (SELECT 1 FROM seat_claim c
                                                   WHERE c.screening_id = p_screening_id
                                                     AND c.seat_id = u.s
                                                     AND c.hold_id = p_hold_id)
                                    ORDER BY n) || p_seat_ids
                        ELSE p_seat_ids END,
                   p_wheelchair) AS k;
        IF outcome IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;

    IF p_kind = 'block' THEN
        PERFORM pg_advisory_xact_lock_shared(4, hashtext(p_screening_id::text));
    ELSE
        PERFORM pg_advisory_xact_lock_shared(4, hashtext(p_screening_id::text)),
                pg_advisory_xact_lock(5, hashtext(p_client_id));
    END IF;

    IF p_idempotency_key IS NOT NULL THEN  -- a retry (the client lock orders them) answers
        SELECT h.id, h.request_hash, h.seat_ids INTO replay_of, replay_hash, seat_ids
          FROM hold h
         WHERE h.client_id = p_client_id AND h.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            outcome := 'replayed';
            RETURN;
        END IF;
    END IF;

    SELECT s.status, s.starts_at, s.on_sale_at, s.auditorium_id, s.venue_id, v.hold_minutes
      INTO sale_status, starts_at, on_sale_at, v_auditorium, v_venue, v_hold_minutes
      FROM screening s JOIN venue v ON v.id = s.venue_id
     WHERE s.id = p_screening_id;
    IF NOT FOUND THEN
        outcome := 'no screening';
        RETURN;
    END IF;
    outcome := box_office_refusal(p_kind, sale_status, starts_at, on_sale_at, p_now);
    IF outcome IS NOT NULL THEN
        RETURN;
    END IF;
    IF p_kind = 'hold' AND v_hold_minutes <> p_hold_minutes THEN
        outcome := 'hold time changed';
        RETURN;
    END IF;

    IF p_kind <> 'block' THEN
        -- By the client's index (hold_live_client), the one index that answers
        -- `ended_at IS NULL` (see above).
        SELECT count(*) FILTER (WHERE h.expires_at > p_now),
               coalesce(sum(cardinality(h.seat_ids))
                        FILTER (WHERE h.screening_id = p_screening_id AND h.expires_at > p_now),
                        0)
          INTO live_holds, held_seats
          FROM hold h
         WHERE h.client_id = p_client_id AND h.ended_at IS NULL;
        IF p_kind = 'hold' AND live_holds >= p_max_live_holds THEN
            outcome := 'too many holds';
            RETURN;
        END IF;
        IF held_seats - p_released + v_count > p_max_held_seats THEN
            outcome := 'too many seats';
            RETURN;
        END IF;
    END IF;

    IF p_seat_ids IS NULL THEN
        -- The windows an earlier choice left, one at a time (without a need: those of a need
        -- are chosen for it); when none is left, the chooser lock, and once more.
        WHILE p_wheelchair = 0 AND NOT p_wait AND v_chosen IS NULL LOOP
            DELETE FROM seat_window w
             USING (SELECT ctid FROM seat_window
                     WHERE screening_id = p_screening_id AND seat_count = p_count
                       AND chosen_at > clock_timestamp() - interval '1 second'
                       AND (NOT p_together OR seat_window.how LIKE 'together%')
                     ORDER BY rank LIMIT 1 FOR UPDATE SKIP LOCKED) AS next
             WHERE w.ctid = next.ctid
            RETURNING w.seat_ids, w.how, w.refill INTO v_window, v_how, v_refill;
            IF v_window IS NULL THEN
                EXIT WHEN v_choosing;
                -- Nothing free (or all being taken, by requests not yet committed): the
                -- refusal needs no turn (a sold-out rush refuses side by side).
                EXIT WHEN NOT EXISTS (SELECT 1 FROM seat_free f
                                       WHERE f.screening_id = p_screening_id AND f.plain);
                -- None left: one request chooses at a time. In line for the chooser lock (in a
                -- subtransaction): once it is this request's, if the one before it left
                -- windows, it lets the lock go at once (the subtransaction undone) and takes
                -- one, side by side with the others that waited; else it keeps the lock until
                -- commit and chooses.
                BEGIN
                    PERFORM pg_advisory_xact_lock(8, v_chooser);
                    PERFORM FROM seat_window w
                      WHERE w.screening_id = p_screening_id AND w.seat_count = p_count
                        AND w.chosen_at > clock_timestamp() - interval '1 second'
                        AND (NOT p_together OR w.how LIKE 'together%')
                      LIMIT 1 FOR UPDATE SKIP LOCKED;
                    IF FOUND THEN
                        RAISE SQLSTATE 'UH002';
                    END IF;
                    v_choosing := true;
                EXCEPTION WHEN SQLSTATE 'UH002' THEN
                    NULL;
                END;
                CONTINUE;
            END IF;
            SELECT t.chosen, v_skip || t.skip INTO v_chosen, v_skip
              FROM box_office_take_window(p_screening_id, v_window, v_count, p_wheelchair,
                                          false, v_skip) AS t;
            how := v_how;
            v_window := NULL;
        END LOOP;
        IF v_chosen IS NULL AND p_wheelchair > 0 AND NOT p_wait THEN  -- a need
            PERFORM pg_advisory_xact_lock(8, v_chooser);
        END IF;
        IF v_choosing THEN
            -- The kept windows of this count left: those older than a second go; the others
            -- are being taken by the requests that took them from the queue (each row until
            -- its request commits), and the choice passes over their seats.
            DELETE FROM seat_window w
             USING (SELECT ctid FROM seat_window
                     WHERE screening_id = p_screening_id AND seat_count = p_count
                     FOR UPDATE SKIP LOCKED) AS old
             WHERE w.ctid = old.ctid;
            v_skip := v_skip || ARRAY(SELECT unnest(w.seat_ids) FROM seat_window w
                                       WHERE w.screening_id = p_screening_id
                                         AND w.seat_count = p_count);
        END IF;
        IF v_chosen IS NOT NULL AND v_refill AND NOT v_choosing
           AND pg_try_advisory_xact_lock(8, v_chooser) THEN
            -- The queue runs low: the next windows are chosen while the others take the last
            -- ones, not after, when every request would wait in line for the choice.
            v_choosing := true;
            SELECT c.seat_ids || coalesce(c.more, '{}'), c.how INTO v_next, v_next_how
              FROM box_office_choose(p_screening_id, v_auditorium, p_count, 0, p_together,
                                     v_skip || v_chosen
                                     || ARRAY(SELECT unnest(w.seat_ids) FROM seat_window w
                                               WHERE w.screening_id = p_screening_id
                                                 AND w.seat_count = p_count)) AS c;
            PERFORM box_office_keep_windows(p_screening_id, p_count, v_next_how, v_next);
        END IF;
        WHILE v_chosen IS NULL LOOP
            SELECT c.seat_ids, c.how, coalesce(c.more, '{}') INTO v_chosen, how, v_more
              FROM box_office_choose(p_screening_id, v_auditorium, p_count, p_wheelchair,
                                     p_together, v_skip) AS c;
            IF v_chosen IS NULL AND NOT v_reclaimed THEN
                -- Dead holds' seats are free: give them back (the worker does so too, in
                -- time), and choose again.
                v_reclaimed := true;
                DELETE FROM seat_claim c
                 USING (SELECT c2.screening_id, c2.seat_id FROM hold h
                          JOIN seat_claim c2
                            ON c2.hold_id = h.id AND c2.screening_id = h.screening_id
                         WHERE h.screening_id = p_screening_id AND h.status = 'live'
                           AND h.expires_at <= p_now AND c2.kind = 'hold' AND c2.expires_at <= p_now
                         ORDER BY c2.seat_id FOR UPDATE OF c2 SKIP LOCKED) AS dead
                 WHERE c.screening_id = dead.screening_id AND c.seat_id = dead.seat_id
                   AND c.kind = 'hold' AND c.expires_at <= p_now;
                CONTINUE;
            END IF;
            IF v_chosen IS NULL THEN
                IF cardinality(v_skip) > 0 AND NOT p_wait THEN
                    RAISE EXCEPTION 'seats being taken' USING ERRCODE = 'UH503';
                END IF;
                outcome := CASE WHEN p_together OR p_wheelchair > 0 THEN 'no seats together'
                                ELSE 'not enough seats' END;
                RETURN;
            END IF;
            -- The chosen window, then (when another request is taking some of its seats) the
            -- next best ones choose found, in turn; then it chooses again without them.
            SELECT t.chosen, t.rest, v_skip || t.skip INTO v_chosen, v_more, v_skip
              FROM box_office_take_window(p_screening_id, v_chosen || v_more, v_count,
                                          p_wheelchair, p_wait, v_skip) AS t;
            IF v_choosing AND v_chosen IS NOT NULL THEN
                -- What it did not try, for the next requests.
                PERFORM box_office_keep_windows(p_screening_id, p_count, how, v_more);
            END IF;
        END LOOP;
        -- The chosen seats in row and seat order, with their labels (seat by seat: see above).
        FOREACH v_seat IN ARRAY v_chosen LOOP
            SELECT v_rows || h.row_number, v_positions || h.position, v_names || h.label
              INTO v_rows, v_positions, v_names
              FROM hall_seat h WHERE h.seat_id = v_seat;
        END LOOP;
        SELECT array_agg(t.seat_id ORDER BY t.row_number, t.position),
               array_agg(t.label ORDER BY t.row_number, t.position)
          INTO seat_ids, v_labels
          FROM unnest(v_chosen, v_rows, v_positions, v_names)
               AS t(seat_id, row_number, position, label);
    ELSE
        seat_ids := p_seat_ids;
    END IF;

    IF p_kind = 'hold' THEN
        INSERT INTO hold (id, screening_id, venue_id, token_hash, client_id, seat_ids,
                          wheelchair_spaces, created_at, expires_at, latest_expiry,
                          idempotency_key, request_hash)
        VALUES (p_hold_id, p_screening_id, v_venue, p_token_hash, p_client_id, seat_ids,
                p_wheelchair, p_now, p_expires_at, p_latest_expiry, p_idempotency_key,
                p_request_hash);
    END IF;
    v_missing := box_office_take_seats(
        p_screening_id, seat_ids, CASE WHEN p_kind = 'block' THEN 'block' ELSE 'hold' END,
        CASE WHEN p_kind = 'block' THEN NULL ELSE p_hold_id END,
        CASE WHEN p_kind = 'block' THEN NULL ELSE p_expires_at END, p_now, p_note);
    IF cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'seats taken' USING ERRCODE = 'UH409',
            DETAIL = array_to_string(v_missing, ' ');
    END IF;

    IF p_kind = 'hold' THEN  -- the seats of best available are known only now
        INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, venue_id,
                            payload)
        VALUES (p_event_id, p_event_type, p_event_aggregate_type, p_event_aggregate_id, v_venue,
                CASE WHEN v_labels IS NULL THEN p_event_payload
                     ELSE p_event_payload || jsonb_build_object('seat_ids', to_jsonb(seat_ids),
                                                                'seat_labels', to_jsonb(v_labels))
                END);
    END IF;
    -- Whether the screening's sale status is right as it stands once this commits, so the
    -- caller need not look again (services/box_office/service/_common.py settle_sale_status):
    -- it is on sale and a free seat is left that nothing else is taking, kept free until this
    -- commits (a shared lock on its free row: whoever takes that seat waits for this commit,
    -- and looks at the status itself after its own). The seat farthest from the focal point,
    -- which best available takes last.
    settled := sale_status = 'on_sale' AND p_kind <> 'block' AND EXISTS (
        SELECT 1 FROM (SELECT f.seat_id FROM seat_free f
                        WHERE f.screening_id = p_screening_id AND f.plain
                          AND NOT EXISTS (SELECT 1 FROM seat_claim c
                                           WHERE c.screening_id = p_screening_id
                                             AND c.seat_id = f.seat_id)
                        ORDER BY f.d DESC LIMIT 1 FOR KEY SHARE OF f SKIP LOCKED) AS witness);
    outcome := CASE p_kind WHEN 'hold' THEN 'held' WHEN 'add' THEN 'added' ELSE 'blocked' END;
END;
$$;
