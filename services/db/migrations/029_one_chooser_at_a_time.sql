-- Best available: one choice at a time per screening, and most holds of a rush with none.
--
-- Measured straight against PostgreSQL (50 connections making 2-seat best-available holds until
-- a hall was full, nothing else running): 89-108 holds/s on halls of 300, 2,000 and 5,000 seats,
-- against 263-1,407/s for explicit seats, with a p99 of 1.3-5 s. Every request of a rush chose
-- from the same seats at once, so all chose the same windows and fought over them: 7.4 choices
-- per hold. And a window was locked in a savepoint (to let a window locked only in part go
-- whole), so deleting its free rows at the end of the claim made a MultiXact of every seat
-- taken (a row locked by a subtransaction, then deleted by its parent): most backends waited on
-- the MultiXact SLRU buffers.
-- 1. The windows a choice found and its request did not take are kept (seat_window, unlogged:
--    a crash only empties it), best first, for a second; the next requests for as many seats
--    take one each (DELETE ... FOR UPDATE SKIP LOCKED: a queue, each window handed to one
--    request) if its seats are all still free and sellable. Seats made free (a claim deleted)
--    empty the screening's kept windows, so best available offers freed seats at once, as
--    before; after a second a request chooses afresh, so a quiet sale always gets the best.
-- 2. When none is left, one request chooses at a time per screening and party size (advisory
--    lock 8; 6 and 7 are the access devices'): the others wait in line, and each, when its
--    turn comes, lets the lock go at once if the one before it left windows (taken in a
--    subtransaction, which it undoes) and takes one beside the others; else it keeps the lock
--    until commit and chooses, passing over the seats of the windows being taken. A request
--    that finds no free seat needs no turn.
-- 3. box_office_choose reads the 64 free seats nearest the focal point, not 16, and answers up
--    to 64 windows: one choice serves a rush.
-- 4. No savepoint: a window locked only in part keeps the seats it locked until the claim
--    commits (a few seats passed over by the requests of that moment), and no MultiXact.
-- The choice stays in one place (box_office_choose); seat_window keeps only its answers.
-- Measured with bench/holds.py: docs/box-office.md.

CREATE UNLOGGED TABLE seat_window (
    screening_id uuid NOT NULL,
    seat_count integer NOT NULL,
    rank integer NOT NULL,  -- best first
    how text NOT NULL,  -- as box_office_choose chose it
    seat_ids uuid[] NOT NULL,
    chosen_at timestamptz NOT NULL  -- kept for a second: then a request chooses afresh
);
CREATE INDEX seat_window_next ON seat_window (screening_id, seat_count, rank);

-- A deleted claim (release, expiry, cancelled booking, unblock, a dead hold's seats taken back)
-- makes its seat free again: the one place that does so; and the screening's kept windows go,
-- so that the next choice weighs the freed seats (those being taken right now are gone anyway).
CREATE OR REPLACE FUNCTION box_office_seats_freed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seat_free (screening_id, seat_id, row_number, block_no, position, dx, dy, kind,
                           plain)
    SELECT o.screening_id, h.seat_id, h.row_number, h.block_no, h.position, h.dx, h.dy, h.kind,
           h.kind NOT IN ('wheelchair', 'companion')
      FROM freed o JOIN hall_seat h ON h.seat_id = o.seat_id
    ON CONFLICT DO NOTHING;
    DELETE FROM seat_window w
     USING (SELECT ctid FROM seat_window
             WHERE screening_id IN (SELECT screening_id FROM freed)
             FOR UPDATE SKIP LOCKED) AS kept
     WHERE w.ctid = kept.ctid;
    RETURN NULL;
END;
$$;

-- box_office_choose as in migration 023, reading further (64 nearest free seats, not 16) and
-- answering up to 64 windows, not 16: one choice serves a rush of requests.
CREATE OR REPLACE FUNCTION box_office_choose(p_screening_id uuid, p_auditorium_id uuid,
                                             p_count integer, p_wheelchair integer,
                                             p_together boolean, p_skip uuid[],
                                             OUT seat_ids uuid[], OUT how text,
                                             OUT more uuid[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_blocks integer[];
    v_bounds float8[];
    v_next integer := 1;
    v_batch integer := 2;
    v_best float8 := 'Infinity';
    v_orphan float8 := 'Infinity';
    v_best_at integer[];  -- block and first position of the best window
    v_orphan_at integer[];
    v_batch_blocks integer[];
    v_near integer := 64;
    v_seen bigint := 0;
    v_window record;
    v_at integer;
    v_together uuid[];  -- the windows leaving no single seat, best first, one after another
    v_orphans uuid[];  -- and those leaving one (of the last seats read)
BEGIN
    IF p_wheelchair > 0 THEN
        SELECT array_agg(block_no ORDER BY bound, block_no),
               array_agg(bound ORDER BY bound, block_no)
          INTO v_blocks, v_bounds
          FROM hall_block
         WHERE auditorium_id = p_auditorium_id AND seats >= p_count AND wheelchair;
    END IF;
    -- Without a need: the windows around the v_near free plain seats nearest the focal point
    -- (16, then 64, ... until a window leaving no single seat is found, or every free seat
    -- read): one index scan for them, one range scan of their rows for the seats around.
    -- A window of p_count seats starts at `position` when the seat p_count - 1 rows on is
    -- p_count - 1 places on; it leaves a single seat on the left when the seat before it is
    -- free and the one before that is not, and likewise on the right.
    WHILE p_wheelchair = 0 AND v_together IS NULL AND v_near < 1048576 LOOP
        v_orphans := NULL;
        FOR v_window IN
            WITH anchor AS (
                SELECT block_no, position FROM seat_free
                 WHERE screening_id = p_screening_id AND plain AND seat_id <> ALL (p_skip)
                 ORDER BY d LIMIT v_near
            ), near AS (  -- the free seats around each anchor, enough to judge its windows
                SELECT DISTINCT f.block_no, f.position, f.dx, f.dy
                  FROM anchor a JOIN seat_free f
                    ON f.screening_id = p_screening_id AND f.block_no = a.block_no
                   AND f.position BETWEEN a.position - p_count - 1 AND a.position + p_count + 1
                 WHERE f.plain AND f.seat_id <> ALL (p_skip)
            ), w AS (
                SELECT block_no, position,
                       lead(position, p_count - 1) OVER win AS last,
                       lag(position) OVER win AS left1, lag(position, 2) OVER win AS left2,
                       lead(position, p_count) OVER win AS right1,
                       lead(position, p_count + 1) OVER win AS right2,
                       sum(dx) OVER win AS sx, sum(dy) OVER win AS sy
                  FROM near
                WINDOW win AS (PARTITION BY block_no ORDER BY position
                               ROWS BETWEEN CURRENT ROW AND p_count - 1 FOLLOWING)
            )
            SELECT block_no, position, orphan, key,
                   (SELECT array_agg(f.seat_id ORDER BY f.position) FROM seat_free f
                     WHERE f.screening_id = p_screening_id AND f.block_no = ranked.block_no
                       AND f.position >= ranked.position
                       AND f.position < ranked.position + p_count) AS ids,
                   seen, rank
              FROM (
                SELECT block_no, position, orphan, key, NULL::bigint AS seen,
                       row_number() OVER (PARTITION BY orphan
                                          ORDER BY key, block_no, position) AS rank
                  FROM (SELECT block_no, position,
                               coalesce(left1 = position - 1
                                        AND (left2 IS NULL OR left2 < position - 2)
                                        OR right1 = position + p_count
                                           AND (right2 IS NULL OR right2 > position + p_count + 1),
                                        false) AS orphan,
                               (sx / p_count) ^ 2 + (sy / p_count) ^ 2 AS key
                          FROM w WHERE last = position + p_count - 1) AS windows
            ) AS ranked
             WHERE rank <= CASE WHEN orphan THEN 32 ELSE 192 END
            UNION ALL
            SELECT NULL, NULL, NULL, NULL, NULL, count(*), NULL FROM anchor
            ORDER BY seen NULLS FIRST, orphan, rank
        LOOP
            IF v_window.seen IS NOT NULL THEN
                v_seen := v_window.seen;
            ELSIF NOT v_window.orphan THEN  -- windows apart from the better ones taken
                IF v_together IS NULL OR cardinality(v_together) < 64 * p_count
                   AND NOT v_window.ids && v_together THEN
                    v_together := coalesce(v_together, '{}') || v_window.ids;
                END IF;
            ELSE
                IF v_window.key < v_orphan THEN
                    v_orphan := v_window.key;
                    v_orphan_at := ARRAY[v_window.block_no, v_window.position];
                END IF;
                IF v_orphans IS NULL OR cardinality(v_orphans) < 64 * p_count
                   AND NOT v_window.ids && v_orphans THEN
                    v_orphans := coalesce(v_orphans, '{}') || v_window.ids;
                END IF;
            END IF;
        END LOOP;
        EXIT WHEN v_seen < v_near;  -- every free seat was read
        v_near := v_near * 4;
    END LOOP;
    -- With a wheelchair need: blocks with a wheelchair space, in order of the best window
    -- they could hold, two, then four, ... at a time, until none left could beat the best.
    WHILE p_wheelchair > 0 AND v_next <= coalesce(cardinality(v_blocks), 0)
          AND v_bounds[v_next] < v_best LOOP
        v_batch_blocks := v_blocks[v_next:v_next + v_batch - 1];
        FOR v_window IN
            WITH f AS (
                SELECT block_no, position, dx, dy, kind,
                       position - row_number() OVER (PARTITION BY block_no ORDER BY position)
                           AS run
                  FROM seat_free
                 WHERE screening_id = p_screening_id AND block_no = ANY (v_batch_blocks)
                   AND seat_id <> ALL (p_skip)
            ), w AS (
                SELECT block_no, position, count(*) OVER win AS n, sum(dx) OVER win AS sx,
                       sum(dy) OVER win AS sy, array_agg(kind) OVER win AS kinds,
                       position - min(position) OVER this_run AS left_gap,
                       max(position) OVER this_run - position - p_count + 1 AS right_gap
                  FROM f
                WINDOW win AS (PARTITION BY block_no, run ORDER BY position
                               ROWS BETWEEN CURRENT ROW AND p_count - 1 FOLLOWING),
                       this_run AS (PARTITION BY block_no, run)
            )
            SELECT DISTINCT ON (orphan) block_no, position,
                   (left_gap = 1 OR right_gap = 1) AS orphan,
                   (sx / p_count) ^ 2 + (sy / p_count) ^ 2 AS key
              FROM w WHERE n = p_count AND box_office_kinds_fit(kinds, p_wheelchair)
             ORDER BY orphan, key, block_no, position
        LOOP
            IF NOT v_window.orphan AND v_window.key < v_best THEN
                v_best := v_window.key;
                v_best_at := ARRAY[v_window.block_no, v_window.position];
            ELSIF v_window.orphan AND v_window.key < v_orphan THEN
                v_orphan := v_window.key;
                v_orphan_at := ARRAY[v_window.block_no, v_window.position];
            END IF;
        END LOOP;
        v_next := v_next + v_batch;
        v_batch := v_batch * 2;
    END LOOP;
    IF v_together IS NOT NULL THEN
        seat_ids := v_together[1:p_count];
        more := v_together[p_count + 1:];
        how := 'together';
        RETURN;
    END IF;
    IF v_best_at IS NOT NULL OR v_orphan_at IS NOT NULL THEN
        how := CASE WHEN v_best_at IS NOT NULL THEN 'together'
                    ELSE 'together, leaving a single seat' END;
        v_best_at := coalesce(v_best_at, v_orphan_at);
        SELECT array_agg(seat_id ORDER BY position) INTO seat_ids FROM seat_free
         WHERE screening_id = p_screening_id AND block_no = v_best_at[1]
           AND position >= v_best_at[2] AND position < v_best_at[2] + p_count;
        FOR v_at IN 1 .. coalesce(cardinality(v_orphans), 0) / p_count LOOP  -- the next ones
            IF NOT v_orphans[(v_at - 1) * p_count + 1:v_at * p_count] && seat_ids THEN
                more := coalesce(more, '{}') || v_orphans[(v_at - 1) * p_count + 1:v_at * p_count];
            END IF;
        END LOOP;
        RETURN;
    END IF;
    IF p_together OR p_wheelchair > 0 THEN
        RETURN;
    END IF;

    WITH f AS (
        SELECT seat_id, row_number, dx * dx + dy * dy AS d FROM seat_free
         WHERE screening_id = p_screening_id AND plain AND seat_id <> ALL (p_skip)
    ), ranked AS (
        SELECT pair.first_row, f.seat_id, f.d,
               row_number() OVER (PARTITION BY pair.first_row ORDER BY f.d, f.seat_id) AS k
          FROM (SELECT DISTINCT row_number AS first_row FROM f) AS pair
          JOIN f ON f.row_number IN (pair.first_row, pair.first_row + 1)
    )
    SELECT array_agg(seat_id) INTO seat_ids FROM (
        SELECT first_row FROM ranked WHERE k <= p_count GROUP BY first_row
        HAVING count(*) = p_count ORDER BY sum(d), first_row LIMIT 1
    ) AS best JOIN ranked USING (first_row) WHERE k <= p_count;
    IF seat_ids IS NOT NULL THEN
        how := 'split over two rows';
        RETURN;
    END IF;

    SELECT array_agg(seat_id) INTO seat_ids FROM (
        SELECT seat_id FROM seat_free
         WHERE screening_id = p_screening_id AND plain AND seat_id <> ALL (p_skip)
         ORDER BY dx * dx + dy * dy, seat_id LIMIT p_count
    ) AS best HAVING count(*) = p_count;
    IF seat_ids IS NOT NULL THEN
        how := 'split';
    END IF;
END;
$$;


-- The first of `p_windows` (p_count seats each, one after another) whose seats are all still
-- free, sellable (plain, unless p_wheelchair: windows of a declared need come from
-- box_office_choose alone) and not in `p_skip`: its seats' free rows locked FOR UPDATE, SKIP
-- LOCKED unless p_wait (then it waits for another request's fate). `rest`: the windows after
-- it; `skip`: the seats of windows passed over that others are taking. A free row whose seat
-- is claimed (written around this function) is stale: deleted.
CREATE FUNCTION box_office_take_window(p_screening_id uuid, p_windows uuid[], p_count integer,
                                       p_wheelchair integer, p_wait boolean, p_skip uuid[],
                                       OUT chosen uuid[], OUT rest uuid[], OUT skip uuid[])
LANGUAGE plpgsql AS $$
DECLARE
    v_window uuid[];
    v_locked uuid[];
    v_missing uuid[];
BEGIN
    skip := '{}';
    FOR v_at IN 1 .. coalesce(cardinality(p_windows), 0) / p_count LOOP
        v_window := p_windows[(v_at - 1) * p_count + 1:v_at * p_count];
        CONTINUE WHEN v_window && p_skip OR v_window && skip;
        IF p_wait THEN
            SELECT coalesce(array_agg(seat_id), '{}'),
                   coalesce(array_agg(seat_id) FILTER (WHERE claimed), '{}')
              INTO v_locked, v_missing
              FROM (SELECT f.seat_id, EXISTS (SELECT 1 FROM seat_claim c
                                              WHERE c.screening_id = p_screening_id
                                                AND c.seat_id = f.seat_id) AS claimed
                      FROM seat_free f
                     WHERE f.screening_id = p_screening_id AND f.seat_id = ANY (v_window)
                       AND (f.plain OR p_wheelchair > 0)
                     ORDER BY f.seat_id FOR UPDATE OF f) AS locked;
        ELSE
            SELECT coalesce(array_agg(seat_id), '{}'),
                   coalesce(array_agg(seat_id) FILTER (WHERE claimed), '{}')
              INTO v_locked, v_missing
              FROM (SELECT f.seat_id, EXISTS (SELECT 1 FROM seat_claim c
                                              WHERE c.screening_id = p_screening_id
                                                AND c.seat_id = f.seat_id) AS claimed
                      FROM seat_free f
                     WHERE f.screening_id = p_screening_id AND f.seat_id = ANY (v_window)
                       AND (f.plain OR p_wheelchair > 0)
                     ORDER BY f.seat_id FOR UPDATE OF f SKIP LOCKED) AS locked;
        END IF;
        IF cardinality(v_locked) = p_count AND cardinality(v_missing) = 0 THEN
            chosen := v_window;
            rest := p_windows[v_at * p_count + 1:];
            RETURN;
        END IF;
        DELETE FROM seat_free f
         WHERE f.screening_id = p_screening_id AND f.seat_id = ANY (v_missing);
        skip := skip || ARRAY(SELECT unnest(v_window) EXCEPT SELECT unnest(v_locked));
    END LOOP;
END;
$$;

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
--    if its seats are still free (box_office_take_window); when none is left, one request at
--    a time per screening (the chooser lock, until commit) looks again at what the request
--    ahead of it left, then chooses (box_office_choose: when it finds nothing, the dead holds'
--    claims of the screening are deleted first, their seats being free, and it chooses
--    again), takes the first of its windows it can, chooses again without those another
--    request is taking, and leaves the windows it did not try in seat_window. When nothing
--    is left but seats being taken by others, it raises UH503 (nothing written) and the
--    caller asks again with p_wait: then it waits for those seats' fate.
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
BEGIN
    -- Which seat kinds the hold may have (a new hold's seats, only if one is a wheelchair space
    -- or a companion seat: the rule concerns no other kind).
    IF p_kind = 'add' OR p_kind = 'hold' AND EXISTS (
           SELECT 1 FROM hall_seat h
            WHERE h.seat_id = ANY (p_seat_ids) AND h.kind IN ('wheelchair', 'companion')) THEN
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
        -- By the client's index alone (expires_at in the WHERE clause let the planner walk
        -- every live hold of every client, by expiry, filtering on the client).
        SELECT count(*) FILTER (WHERE h.expires_at > p_now),
               coalesce(sum(cardinality(h.seat_ids))
                        FILTER (WHERE h.screening_id = p_screening_id AND h.expires_at > p_now), 0)
          INTO live_holds, held_seats
          FROM hold h
         WHERE h.client_id = p_client_id AND h.status = 'live';
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
                     ORDER BY rank LIMIT 1 FOR UPDATE SKIP LOCKED) AS next
             WHERE w.ctid = next.ctid
            RETURNING w.seat_ids, w.how INTO v_window, v_how;
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
            IF v_choosing AND v_chosen IS NOT NULL AND cardinality(v_more) > 0 THEN
                -- What it did not try, for the next requests.
                INSERT INTO seat_window (screening_id, seat_count, rank, how, seat_ids,
                                         chosen_at)
                SELECT p_screening_id, p_count, n, how,
                       v_more[(n - 1) * v_count + 1:n * v_count], clock_timestamp()
                  FROM generate_series(1, cardinality(v_more) / v_count) AS n;
            END IF;
        END LOOP;
        SELECT array_agg(h.seat_id ORDER BY h.row_number, h.position),
               array_agg(h.label ORDER BY h.row_number, h.position)
          INTO seat_ids, v_labels
          FROM hall_seat h WHERE h.seat_id = ANY (v_chosen);
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
