-- Idempotency-Key on reserving an access device (docs/access.md, "Retries: Idempotency-Key").
--
-- A reservation made with a key stores the SHA-256 of the key (never the key itself: the
-- reservation's secret is derived from it) and of the request it came with (the screening and
-- the body). The key is unique across reservations, so of two requests racing with one key
-- PostgreSQL lets one insert and refuses the other, which then answers what the first made.
-- Reservations made without a key (every one before this migration) keep both null.
ALTER TABLE device_reservation
    ADD COLUMN idempotency_key_hash bytea,
    ADD COLUMN request_hash bytea,
    ADD CONSTRAINT device_reservation_idempotency_key UNIQUE (idempotency_key_hash),
    ADD CONSTRAINT device_reservation_idempotency_request
        CHECK ((idempotency_key_hash IS NULL) = (request_hash IS NULL));
