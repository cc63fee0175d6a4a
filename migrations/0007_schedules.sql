-- Cron schedules that launch jobs, the record of every slot they had, and
-- the lease that makes one scheduler replica the leader.
--
-- Exactly once per slot: a fire writes its schedule_runs row in the same
-- transaction as the job's deployment row and its deploy action, and
-- (schedule_id, slot_time) is unique, so a second fire of one slot cannot
-- commit, even from a scheduler that wrongly believes it leads.

CREATE TABLE schedules (
    id                        UUID PRIMARY KEY,
    project_id                TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    display_name              TEXT NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 128),
    -- The expression as the client wrote it (5, 6 or 7 fields).
    cron                      TEXT NOT NULL CHECK (char_length(cron) BETWEEN 1 AND 256),
    -- An IANA name (`Europe/Berlin`); slots are wall times in it.
    time_zone                 TEXT NOT NULL DEFAULT 'UTC',
    -- A validated contaxy JobInput.
    job_template              JSONB NOT NULL,
    concurrency_policy        TEXT NOT NULL DEFAULT 'allow'
                              CHECK (concurrency_policy IN ('allow', 'forbid', 'replace')),
    -- A fire later than this after its slot is not made (recorded missed);
    -- NULL: no limit.
    starting_deadline_seconds BIGINT CHECK (starting_deadline_seconds >= 0),
    catch_up                  TEXT NOT NULL DEFAULT 'skip'
                              CHECK (catch_up IN ('skip', 'latest', 'all')),
    suspended                 BOOLEAN NOT NULL DEFAULT false,
    succeeded_history_limit   INTEGER NOT NULL DEFAULT 3 CHECK (succeeded_history_limit BETWEEN 0 AND 1000),
    failed_history_limit      INTEGER NOT NULL DEFAULT 1 CHECK (failed_history_limit BETWEEN 0 AND 1000),
    -- No slot at or after this fires.
    end_at                    TIMESTAMPTZ,
    -- The next slot not yet handled (fired, missed or skipped); NULL when
    -- the schedule has no slot left (past its end, or its years ran out).
    next_slot                 TIMESTAMPTZ,
    -- The last slot that was handled, whatever the outcome.
    last_slot                 TIMESTAMPTZ,
    created_at                TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by                TEXT,
    updated_at                TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by                TEXT
);

CREATE INDEX schedules_by_project ON schedules (project_id, created_at);
-- What the leader scans each tick.
CREATE INDEX schedules_due ON schedules (next_slot) WHERE NOT suspended AND next_slot IS NOT NULL;

CREATE TABLE schedule_runs (
    schedule_id   UUID NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    -- The slot (an instant); `trigger` runs use the instant they were asked.
    slot_time     TIMESTAMPTZ NOT NULL,
    project_id    TEXT NOT NULL,
    -- The job made for this slot (derived from schedule and slot); NULL
    -- when nothing was fired.
    deployment_id TEXT,
    -- Its deploy action.
    action_id     UUID,
    outcome       TEXT NOT NULL CHECK (outcome IN
                  ('fired', 'triggered', 'missed', 'skipped_catch_up', 'skipped_forbid', 'failed')),
    -- Why, for the outcomes that need a word.
    detail        TEXT,
    -- When the scheduler handled the slot (lateness = recorded_at - slot_time).
    recorded_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, slot_time)
);

CREATE INDEX schedule_runs_by_deployment ON schedule_runs (deployment_id) WHERE deployment_id IS NOT NULL;

-- The leader lease: one row per lease name. A replica leads while it holds
-- an unexpired row; it renews well before expiry, and a standby takes the
-- row once it has expired. (Chosen over an advisory lock on a dedicated
-- connection: expiry does not depend on PostgreSQL noticing a dead TCP
-- connection, a stalled leader loses the lease in bounded time, and tests
-- drive it with a simulated clock.)
CREATE TABLE scheduler_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
