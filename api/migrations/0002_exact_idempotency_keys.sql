-- Idempotency keys compare byte for byte: under the table's case-insensitive
-- collation, two clients' random keys differing only in case collided.
ALTER TABLE orders MODIFY idempotency_key VARBINARY(128) NULL;
