-- A claimed action carries a lease: if the worker holding it dies, a
-- redelivery after the lease has run out may claim it again, instead of the
-- action staying "running" for ever.
ALTER TABLE actions ADD COLUMN lease_expires_at TIMESTAMPTZ;
