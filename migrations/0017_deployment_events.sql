-- Every deployment status change, in the order it was written, for
-- `GET /projects/{id}/events` (Server-Sent Events): the id is the event's
-- id, so a client resumes after the last one it saw. Kept for
-- `CONTAXY_STATUS_EVENTS_RETENTION_SECS` (the scheduler prunes older ones).
CREATE TABLE deployment_events (
    id BIGSERIAL PRIMARY KEY,
    project_id TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    status TEXT NOT NULL,
    exit_code INTEGER,
    at TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX deployment_events_by_project ON deployment_events (project_id, id);
CREATE INDEX deployment_events_by_age ON deployment_events (recorded_at);
