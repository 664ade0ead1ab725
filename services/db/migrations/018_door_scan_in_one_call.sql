-- An online scan in one round trip (docs/door.md): the door's service decides in Python
-- (services/door/rules.py) from the booking it read, then this function records the scan, its
-- admissions and their events in one autocommit statement. A retry (same scanner and nonce)
-- gets the stored answer back. If another scan admitted one of the tickets first, the unique
-- index says so and the function raises UD001, which undoes everything: the service then takes
-- the transactional path, which reads again and answers "already admitted". Owned by the door;
-- services/door/store/_scans.py is its only caller.
CREATE FUNCTION door_record_scan(
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
