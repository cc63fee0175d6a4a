-- Job deadlines, cancellation and the cleanup passes (docs/cleanup.md).

-- A job stopped on a client's request ends `cancelled`, distinct from
-- `failed`.
ALTER TABLE deployments DROP CONSTRAINT deployments_status_check;
ALTER TABLE deployments ADD CONSTRAINT deployments_status_check
    CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'terminating', 'stopped',
                      'unknown', 'cancelled'));

-- When a job with `deadline_seconds` must have ended: set once, when it is
-- first seen running (start + deadline). Read by the scheduler's deadline
-- pass, so the deadline holds whichever worker started the job, and
-- whether or not that worker still runs.
ALTER TABLE deployments ADD COLUMN deadline_at TIMESTAMPTZ;

-- Set when the TTL cleanup removed a finished job's container, its logs
-- archived first; the row stays (for its record and its logs) until the
-- record retention prunes it.
ALTER TABLE deployments ADD COLUMN archived_at TIMESTAMPTZ;

-- When a service was last reached through the API (its record read, its
-- logs, an action on it, a deploy or start): what `idle_timeout` counts
-- from. contaxy's `last_access_time`.
ALTER TABLE deployments ADD COLUMN last_access_at TIMESTAMPTZ;

CREATE INDEX deployments_deadlines ON deployments (deadline_at)
    WHERE deadline_at IS NOT NULL AND status IN ('pending', 'running');
CREATE INDEX deployments_finished_jobs ON deployments (stopped_at)
    WHERE deployment_type = 'job' AND status IN ('succeeded', 'failed', 'cancelled');

-- The expired-token pass deletes by expiry.
CREATE INDEX api_tokens_by_expiry ON api_tokens (expires_at) WHERE expires_at IS NOT NULL;
