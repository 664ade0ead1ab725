-- Best available's next windows leave no single seat between them, and there are more of them.
--
-- A choice keeps the windows it did not take for the next requests (migration 029): the next
-- best, apart from each other, each leaving no single seat beside it as the seats are. But two
-- of them could leave one between them (seats 3-4 and 6-7 leave 5 alone), and did: halfway
-- through a 5,000-seat fill, some 60 single seats sat inside the taken area, nearest the focal
-- point. They were then the nearest free seats, the 64 a choice starts from, so a choice found
-- 7-15 windows where it had found 55, and a request chose every eighth hold, the others
-- waiting in line behind it (bench/holds.py, issue 13).
-- - A window is kept only if it leaves no single seat beside a window kept before it: the seat
--   next to it free (and not kept) and the one beyond that kept.
-- - A choice starts from the 256 nearest free seats, not 64, and keeps up to 256 windows: one
--   choice serves most of a 300-seat rush.
-- - Split over two rows (when no seats side by side are left), a choice keeps the next best
--   pairs of rows too, each apart from the others: the end of a sale, a seat left at the end
--   of each row, no longer has every request choose in turn.
-- - With no free plain seat left, a choice without a need answers at once (a sold-out
--   screening's refusals each ask twice, before and after giving dead holds' seats back).
-- - A window taken without waiting locks its seats' free rows FOR NO KEY UPDATE, not FOR UPDATE,
--   SKIP LOCKED: it passes over seats another request is taking, but no longer over the seat a
--   claim holds KEY SHARE as its witness that a free seat is left (box_office_claim, 023),
--   which is the seat farthest from the focal point: at the end of a fill, the seats of the
--   last windows. Such a window was lost (taken from the queue, not taken), and its seats waited
--   for a request to choose them after every other, alone in line. Taking the seats still waits
--   for the witness's commit (deleting the free row locks it FOR UPDATE), as that protocol
--   asks: whoever takes the witness seat settles the sale status after it.
-- Which window is chosen is as before.

-- box_office_choose as in migration 029, with the changes above.
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
    v_near integer := 256;
    v_seen bigint := 0;
    v_window record;
    v_at integer;
    v_together uuid[];  -- the windows leaving no single seat, best first, one after another
    v_orphans uuid[];  -- and those leaving one (of the last seats read)
    v_taken boolean[];  -- the seats of v_together, by their number in `near` (below)
BEGIN
    -- Nothing free to choose from (a sold-out screening's refusals ask twice): no more to read.
    IF p_wheelchair = 0 AND NOT EXISTS (SELECT 1 FROM seat_free
                                         WHERE screening_id = p_screening_id AND plain
                                           AND seat_id <> ALL (p_skip)) THEN
        RETURN;
    END IF;
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
        v_taken := '{}';
        FOR v_window IN
            WITH anchor AS (
                SELECT block_no, position FROM seat_free
                 WHERE screening_id = p_screening_id AND plain AND seat_id <> ALL (p_skip)
                 ORDER BY d LIMIT v_near
            ), near AS (  -- the free seats around each anchor, enough to judge its windows,
                          -- numbered (n) in order of block and position
                SELECT block_no, position, dx, dy,
                       row_number() OVER (ORDER BY block_no, position)::integer AS n
                  FROM (SELECT DISTINCT f.block_no, f.position, f.dx, f.dy
                          FROM anchor a JOIN seat_free f
                            ON f.screening_id = p_screening_id AND f.block_no = a.block_no
                           AND f.position BETWEEN a.position - p_count - 1
                                              AND a.position + p_count + 1
                         WHERE f.plain AND f.seat_id <> ALL (p_skip)) AS around
            ), w AS (
                SELECT block_no, position, n,
                       lead(position, p_count - 1) OVER win AS last,
                       lag(position) OVER win AS left1, lag(position, 2) OVER win AS left2,
                       lead(position, p_count) OVER win AS right1,
                       lead(position, p_count + 1) OVER win AS right2,
                       sum(dx) OVER win AS sx, sum(dy) OVER win AS sy
                  FROM near
                WINDOW win AS (PARTITION BY block_no ORDER BY position
                               ROWS BETWEEN CURRENT ROW AND p_count - 1 FOLLOWING)
            )
            SELECT block_no, position, orphan, key, n, left_free, right_free,
                   (SELECT array_agg(f.seat_id ORDER BY f.position) FROM seat_free f
                     WHERE f.screening_id = p_screening_id AND f.block_no = ranked.block_no
                       AND f.position >= ranked.position
                       AND f.position < ranked.position + p_count) AS ids,
                   seen, rank
              FROM (
                SELECT block_no, position, orphan, key, n, left_free, right_free,
                       NULL::bigint AS seen,
                       row_number() OVER (PARTITION BY orphan
                                          ORDER BY key, block_no, position) AS rank
                  FROM (SELECT block_no, position, n,
                               coalesce(left1 = position - 1, false) AS left_free,
                               coalesce(right1 = position + p_count, false) AS right_free,
                               coalesce(left1 = position - 1
                                        AND (left2 IS NULL OR left2 < position - 2)
                                        OR right1 = position + p_count
                                           AND (right2 IS NULL OR right2 > position + p_count + 1),
                                        false) AS orphan,
                               (sx / p_count) ^ 2 + (sy / p_count) ^ 2 AS key
                          FROM w WHERE last = position + p_count - 1) AS windows
            ) AS ranked
             WHERE rank <= CASE WHEN orphan THEN 32 ELSE 768 END
            UNION ALL
            SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, count(*), NULL FROM anchor
            ORDER BY seen NULLS FIRST, orphan, rank
        LOOP
            IF v_window.seen IS NOT NULL THEN
                v_seen := v_window.seen;
            ELSIF NOT v_window.orphan THEN
                -- Windows apart from the better ones taken (a window of as many seats overlaps
                -- one when it shares its first or last seat), and leaving no single seat
                -- between them: the seat beside it free, and the one beyond that taken.
                IF v_together IS NULL
                   OR cardinality(v_together) < 256 * p_count
                      AND NOT coalesce(v_taken[v_window.n] OR v_taken[v_window.n + p_count - 1],
                                       false)
                      AND NOT (v_window.left_free AND NOT coalesce(v_taken[v_window.n - 1], false)
                               AND coalesce(v_taken[v_window.n - 2], false))
                      AND NOT (v_window.right_free
                               AND NOT coalesce(v_taken[v_window.n + p_count], false)
                               AND coalesce(v_taken[v_window.n + p_count + 1], false)) THEN
                    v_together := coalesce(v_together, '{}') || v_window.ids;
                    FOR v_at IN v_window.n .. v_window.n + p_count - 1 LOOP
                        v_taken[v_at] := true;
                    END LOOP;
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

    -- Split over two rows: the best pair of rows, then (for the next requests) the next best
    -- pairs whose seats are not among those already taken.
    FOR v_window IN
        WITH f AS (
            SELECT seat_id, row_number, dx * dx + dy * dy AS d FROM seat_free
             WHERE screening_id = p_screening_id AND plain AND seat_id <> ALL (p_skip)
        ), ranked AS (
            SELECT pair.first_row, f.seat_id, f.d,
                   row_number() OVER (PARTITION BY pair.first_row ORDER BY f.d, f.seat_id) AS k
              FROM (SELECT DISTINCT row_number AS first_row FROM f) AS pair
              JOIN f ON f.row_number IN (pair.first_row, pair.first_row + 1)
        )
        SELECT array_agg(seat_id) AS ids FROM ranked WHERE k <= p_count GROUP BY first_row
        HAVING count(*) = p_count ORDER BY sum(d), first_row LIMIT 64
    LOOP
        IF seat_ids IS NULL THEN
            seat_ids := v_window.ids;
        ELSIF NOT v_window.ids && seat_ids AND NOT v_window.ids && coalesce(more, '{}') THEN
            more := coalesce(more, '{}') || v_window.ids;
        END IF;
    END LOOP;
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

-- box_office_take_window as in migration 029, locking FOR NO KEY UPDATE when it does not wait.
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
                     ORDER BY f.seat_id FOR NO KEY UPDATE OF f SKIP LOCKED) AS locked;
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
