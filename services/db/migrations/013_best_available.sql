-- Best available chosen and claimed inside PostgreSQL, and every claim of a seat in one place.
--
-- What is free is kept in a form that answers "the best N" without reading every claim:
-- `seat_free` has one row per free seat of a screening (made with the screening, removed when a
-- claim takes the seat, put back by a trigger when a claim is deleted), with where the seat sits:
-- its block (a row's seats side by side, cut at aisles), its position and its offset from the
-- hall's focal point. Best available walks the hall's blocks in order of how close to the focal
-- point a window in them could be, reads only their free seats, and stops as soon as no block
-- left could beat what it found. It locks the seats it chose FOR UPDATE SKIP LOCKED: seats that
-- another request is taking are passed over, and it goes on to the next seats that fit. A dead
-- hold's claims are put back into seat_free first (a dead hold's seats are free, worker or not).
--
-- One function, box_office_claim, is what every path that claims seats calls: a new hold (its
-- seats, or a count), seats added to a hold, a staff block. It holds the rules that were written
-- both here and in Python before: the locks, which screenings sell (box_office_refusal), the
-- live-holds limit, the cap of held seats per client per screening, the claim steps.

-- Where each seat sits, per auditorium (a seat map never changes once made).
CREATE TABLE hall_seat (
    seat_id uuid PRIMARY KEY REFERENCES seat (id),
    auditorium_id uuid NOT NULL REFERENCES auditorium (id),
    label text NOT NULL,
    row_number integer NOT NULL,
    block_no integer NOT NULL,
    position integer NOT NULL,
    dx float8 NOT NULL,  -- x and y less the focal point's
    dy float8 NOT NULL,
    kind text NOT NULL
);
CREATE INDEX hall_seat_auditorium ON hall_seat (auditorium_id);

-- Blocks, with the least squared distance from the focal point a window's centre in it can have.
CREATE TABLE hall_block (
    auditorium_id uuid NOT NULL REFERENCES auditorium (id),
    block_no integer NOT NULL,
    bound float8 NOT NULL,
    seats integer NOT NULL,
    wheelchair boolean NOT NULL,  -- it has a wheelchair space
    PRIMARY KEY (auditorium_id, block_no)
);
CREATE INDEX hall_block_bound ON hall_block (auditorium_id, bound);

-- A screening's free seats. `plain` seats go to anyone; wheelchair spaces and companion seats
-- only with a declared need.
CREATE TABLE seat_free (
    screening_id uuid NOT NULL REFERENCES screening (id) ON DELETE CASCADE,
    seat_id uuid NOT NULL,
    row_number integer NOT NULL,
    block_no integer NOT NULL,
    position integer NOT NULL,
    dx float8 NOT NULL,
    dy float8 NOT NULL,
    kind text NOT NULL,
    plain boolean NOT NULL,
    d float8 GENERATED ALWAYS AS (dx * dx + dy * dy) STORED,  -- squared distance to the focus
    PRIMARY KEY (screening_id, seat_id)
);
CREATE INDEX seat_free_block ON seat_free (screening_id, block_no, position);
CREATE INDEX seat_free_near ON seat_free (screening_id, d) WHERE plain;

-- A screening may go on sale at a set time: until then it is 'scheduled' and sells nothing.
ALTER TABLE screening ADD COLUMN on_sale_at timestamptz;

-- A new hold may carry an Idempotency-Key: a retry with the same key (from the same client)
-- answers the same hold; the key with another request is refused.
ALTER TABLE hold ADD COLUMN idempotency_key text, ADD COLUMN request_hash bytea;
CREATE UNIQUE INDEX hold_idempotency ON hold (client_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Dead holds of a screening are found by this index (it replaces hold_live_screening).
CREATE INDEX hold_live_screening_expiry ON hold (screening_id, expires_at) WHERE status = 'live';
DROP INDEX hold_live_screening;

-- The blocks and offsets of an auditorium's seats, as rules.seat_layout cut them before: an
-- aisle is a gap in x wider than one and a half times the row's narrowest gap, or a missing
-- position; the focal point is the centre of the seats' bounding box.
CREATE FUNCTION box_office_lay_out(p_auditorium uuid) RETURNS void LANGUAGE sql AS $$
    INSERT INTO hall_seat (seat_id, auditorium_id, label, row_number, block_no, position, dx, dy,
                           kind)
    WITH s AS (SELECT id, label, row_number, position, x::float8 AS x, y::float8 AS y, kind
                 FROM seat WHERE auditorium_id = p_auditorium),
    focal AS (SELECT (min(x) + max(x)) / 2 AS fx, (min(y) + max(y)) / 2 AS fy FROM s),
    gaps AS (SELECT s.*, lag(position) OVER w AS previous, x - lag(x) OVER w AS gap
               FROM s WINDOW w AS (PARTITION BY row_number ORDER BY position)),
    widest AS (SELECT row_number, coalesce(min(gap) FILTER (WHERE gap > 0), 1) * 1.5 AS widest
                 FROM gaps GROUP BY row_number),
    cut AS (SELECT g.*, sum(CASE WHEN g.previous IS NULL OR g.position <> g.previous + 1
                                      OR g.gap > w.widest THEN 1 ELSE 0 END)
                            OVER (ORDER BY g.row_number, g.position) AS block_no
              FROM gaps g JOIN widest w USING (row_number))
    SELECT id, p_auditorium, label, row_number, block_no, position, x - fx, y - fy, kind
      FROM cut, focal
    ON CONFLICT (seat_id) DO NOTHING;

    INSERT INTO hall_block (auditorium_id, block_no, bound, seats, wheelchair)
    SELECT p_auditorium, block_no,
           greatest(min(dx), 0, -max(dx)) ^ 2 + greatest(min(dy), 0, -max(dy)) ^ 2,
           count(*), bool_or(kind = 'wheelchair')
      FROM hall_seat WHERE auditorium_id = p_auditorium GROUP BY block_no
    ON CONFLICT DO NOTHING;
$$;

-- A new screening starts with every seat free.
CREATE FUNCTION box_office_screening_seats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM hall_block WHERE auditorium_id = NEW.auditorium_id) THEN
        PERFORM box_office_lay_out(NEW.auditorium_id);
    END IF;
    INSERT INTO seat_free (screening_id, seat_id, row_number, block_no, position, dx, dy, kind,
                           plain)
    SELECT NEW.id, seat_id, row_number, block_no, position, dx, dy, kind,
           kind NOT IN ('wheelchair', 'companion')
      FROM hall_seat WHERE auditorium_id = NEW.auditorium_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER screening_seats AFTER INSERT ON screening
    FOR EACH ROW EXECUTE FUNCTION box_office_screening_seats();

-- A deleted claim (release, expiry, cancelled booking, unblock, a dead hold's seats taken back)
-- makes its seat free again: the one place that does so.
CREATE FUNCTION box_office_seats_freed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seat_free (screening_id, seat_id, row_number, block_no, position, dx, dy, kind,
                           plain)
    SELECT o.screening_id, h.seat_id, h.row_number, h.block_no, h.position, h.dx, h.dy, h.kind,
           h.kind NOT IN ('wheelchair', 'companion')
      FROM freed o JOIN hall_seat h ON h.seat_id = o.seat_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER seat_claim_freed AFTER DELETE ON seat_claim
    REFERENCING OLD TABLE AS freed FOR EACH STATEMENT EXECUTE FUNCTION box_office_seats_freed();

-- The screenings there are already.
SELECT box_office_lay_out(a.id) FROM auditorium a
 WHERE EXISTS (SELECT 1 FROM seat WHERE auditorium_id = a.id);
INSERT INTO seat_free (screening_id, seat_id, row_number, block_no, position, dx, dy, kind, plain)
SELECT s.id, h.seat_id, h.row_number, h.block_no, h.position, h.dx, h.dy, h.kind,
       h.kind NOT IN ('wheelchair', 'companion')
  FROM screening s JOIN hall_seat h ON h.auditorium_id = s.auditorium_id
 WHERE NOT EXISTS (SELECT 1 FROM seat_claim c WHERE c.screening_id = s.id AND c.seat_id = h.seat_id);

-- Whether `kinds` (a window's seats, side by side) suit a party declaring `wheelchair` spaces:
-- exactly that many wheelchair spaces, and each companion seat beside one of them.
CREATE FUNCTION box_office_kinds_fit(kinds text[], wheelchair integer) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT count(*) FILTER (WHERE k = 'wheelchair') = wheelchair
       AND bool_and(k <> 'companion' OR kinds[i - 1] = 'wheelchair' OR kinds[i + 1] = 'wheelchair')
      FROM unnest(kinds) WITH ORDINALITY AS t(k, i)
$$;
