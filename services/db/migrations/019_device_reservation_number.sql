-- A device reservation's number: seven characters from the booking references' alphabet (no
-- 0/O, 1/I/L: read aloud at the desk and typed back), printed in its emails and looked up at the
-- desk. The id stays the key of the API's paths. Rows made before get one derived from their id.
ALTER TABLE device_reservation ADD COLUMN number text;

UPDATE device_reservation r SET number = (
    SELECT string_agg(
        substr('ABCDEFGHJKMNPQRSTUVWXYZ23456789',
               1 + get_byte(decode(md5(r.id::text), 'hex'), i) % 31, 1),
        '' ORDER BY i)
    FROM generate_series(0, 6) AS i);

ALTER TABLE device_reservation
    ALTER COLUMN number SET NOT NULL,
    ADD CONSTRAINT device_reservation_number_key UNIQUE (number);
