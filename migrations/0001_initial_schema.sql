-- The spine of contaxy: projects, the actions that change them, and the
-- deployments (services and jobs) those actions create.
--
-- Statuses are TEXT with CHECK constraints rather than enum types, so a later
-- migration can add a value inside a transaction.

CREATE TABLE projects (
    id           TEXT PRIMARY KEY
                 CHECK (id ~ '^[a-z0-9]([a-z0-9-]{2,23})[a-z0-9]$' AND id NOT LIKE '%--%' AND id <> 'system'),
    display_name TEXT NOT NULL CHECK (char_length(display_name) BETWEEN 4 AND 128),
    description  TEXT NOT NULL DEFAULT '' CHECK (char_length(description) <= 240),
    metadata     JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by   TEXT,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by   TEXT,
    -- Set when the project's deletion is queued; the row goes once the
    -- deletion action has removed everything the project owns.
    deleting_since TIMESTAMPTZ
);

-- Every change to the world is an action: recorded here first (the source of
-- truth), then published to the broker. A row with published_at NULL was
-- never confirmed by the broker; the relay publishes it later (outbox).
CREATE TABLE actions (
    id              UUID PRIMARY KEY,
    -- No foreign key: the record of a project's actions outlives the project.
    project_id      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind ~ '^[a-z]+\.[a-z_]+$'),
    resource_id     TEXT,
    payload         JSONB NOT NULL DEFAULT '{}'::jsonb,
    status          TEXT NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'retrying', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    error_class     TEXT CHECK (error_class IN ('transient', 'permanent', 'malformed')),
    idempotency_key TEXT CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    requested_by    TEXT,
    -- Where the action came from: api, broker (another system) or scheduler.
    origin          TEXT NOT NULL DEFAULT 'api' CHECK (origin IN ('api', 'broker', 'scheduler')),
    published_at    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at      TIMESTAMPTZ,
    finished_at     TIMESTAMPTZ
);

CREATE UNIQUE INDEX actions_idempotency ON actions (project_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX actions_by_project ON actions (project_id, created_at DESC);
CREATE INDEX actions_unpublished ON actions (created_at) WHERE published_at IS NULL;
CREATE INDEX actions_unfinished ON actions (updated_at) WHERE status IN ('queued', 'running', 'retrying');

-- Services (long-running) and jobs (run to completion). The id is also the
-- container name, so it is unique across projects; every query still scopes
-- by project_id.
CREATE TABLE deployments (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects (id),
    deployment_type TEXT NOT NULL CHECK (deployment_type IN ('service', 'job')),
    display_name    TEXT NOT NULL,
    spec            JSONB NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'terminating', 'stopped', 'unknown')),
    exit_code       INTEGER,
    status_detail   TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by      TEXT,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by      TEXT,
    started_at      TIMESTAMPTZ,
    stopped_at      TIMESTAMPTZ
);

CREATE INDEX deployments_by_project ON deployments (project_id, deployment_type, created_at);
