-- The door without deadlocks, and with fewer locks on the screening's row (docs/door.md).
--
-- 1. No deadlock is possible, so the door's service no longer retries one. A transaction that
--    admits several tickets of a booking could cross another admitting them in another order:
--    an upload admits in the order the tickets were scanned, an online party scan in seat
--    order. Now an online scan that admits a party takes the screening's upload lock shared
--    (door_record_scan below; the service's transactional path takes it for every online scan
--    it records) before it writes anything, and an upload takes it alone (as before): the two
--    never run at once. Online scans admit in seat order among themselves, and a scan of one
--    ticket holds at most one admission while it waits. Uploads claim their scans in nonce
--    order (services/door/store/_scans.py), so two of different screenings from one scanner
--    cannot cross either.
-- 2. Every scan took a key-share lock on the screening's row three times (door_scan, admission
--    and door_change each had a foreign key to it): concurrent doors then make a new multixact
--    for that one row at every scan. The admission's was redundant (its booking's key,
--    (booking_id, screening_id), already names the screening, and the booking's own key checks
--    it); door_change now checks its booking and screening through that same key, once.
ALTER TABLE admission DROP CONSTRAINT admission_screening_id_fkey;
ALTER TABLE door_change
    DROP CONSTRAINT door_change_booking_id_fkey,
    DROP CONSTRAINT door_change_screening_id_fkey,
    ADD FOREIGN KEY (booking_id, screening_id) REFERENCES booking (id, screening_id);

-- As in 018, with the party's lock first.
CREATE OR REPLACE FUNCTION door_record_scan(
    p_scan_id uuid, p_scanner text, p_nonce text, p_screening uuid, p_door text,
    p_staff uuid, p_staff_name text, p_scanned_at timestamptz, p_booking uuid,
    p_result text, p_reason text, p_answer jsonb, p_admission_ids uuid[], p_seat_ids uuid[],
    p_event_ids uuid[], p_event_types text[], p_aggregate_types text[],
    p_aggregate_ids text[], p_venue_ids uuid[], p_payloads jsonb[]
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    stored jsonb;
    admitted integer;
BEGIN
    IF coalesce(array_length(p_seat_ids, 1), 0) > 1 THEN
        -- a party: not while an upload of the screening runs (it holds this lock alone)
        PERFORM pg_advisory_xact_lock_shared(hashtextextended(p_screening::text, 1617));
    END IF;
    INSERT INTO door_scan (id, scanner_id, nonce, screening_id, door, staff_id, staff_name, mode,
                           scanned_at, recorded_at, booking_id, result, reason, answer)
    VALUES (p_scan_id, p_scanner, p_nonce, p_screening, p_door, p_staff, p_staff_name, 'online',
            p_scanned_at, p_scanned_at, p_booking, p_result, p_reason, p_answer)
    ON CONFLICT (scanner_id, nonce) DO NOTHING;
    IF NOT FOUND THEN
        SELECT answer INTO stored FROM door_scan WHERE scanner_id = p_scanner AND nonce = p_nonce;
        RETURN jsonb_build_object('replayed', stored);
    END IF;
    WITH made AS (
        INSERT INTO admission (id, screening_id, booking_id, seat_id, scan_id, scanned_at, door,
                               scanner_id, staff_name)
        SELECT t.id, p_screening, p_booking, t.seat_id, p_scan_id, p_scanned_at, p_door,
               p_scanner, p_staff_name
        FROM unnest(p_admission_ids, p_seat_ids) AS t(id, seat_id)
        ORDER BY t.seat_id
        ON CONFLICT (booking_id, seat_id) WHERE undone_at IS NULL DO NOTHING
        RETURNING 1
    )
    SELECT count(*) INTO admitted FROM made;
    IF admitted < coalesce(array_length(p_seat_ids, 1), 0) THEN
        RAISE EXCEPTION 'another scan admitted a ticket of this scan first' USING ERRCODE = 'UD001';
    END IF;
    INSERT INTO outbox (event_id, event_type, aggregate_type, aggregate_id, venue_id, payload)
    SELECT * FROM unnest(p_event_ids, p_event_types, p_aggregate_types, p_aggregate_ids,
                         p_venue_ids, p_payloads);
    RETURN jsonb_build_object('recorded', true);
END;
$$;
