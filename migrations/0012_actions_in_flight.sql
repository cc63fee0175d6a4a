-- The claim's ordering check (an action waits for older ones on its
-- resource that have not ended) looks up a project's unfinished actions by
-- resource; this keeps that lookup to the few rows that are in flight.
CREATE INDEX actions_in_flight ON actions (project_id, resource_id, created_at)
    WHERE status IN ('queued', 'retrying', 'running');
