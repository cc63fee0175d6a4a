-- What the runtime hosts can give one deployment, as the workers last saw it,
-- so the API can refuse an impossible `min_*` request with a 400 at once
-- instead of accepting an action that can only fail.
CREATE TABLE runtime_hosts (
    namespace    TEXT NOT NULL,
    host         TEXT NOT NULL,
    backend      TEXT NOT NULL,
    cpus         DOUBLE PRECISION NOT NULL CHECK (cpus > 0),
    memory_bytes BIGINT NOT NULL CHECK (memory_bytes > 0),
    seen_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, host)
);
