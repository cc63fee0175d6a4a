-- What a succeeded action reports (a file action's counts, …), as JSON; NULL
-- for actions that report nothing. Shown on GET /projects/{p}/actions/{id}.
ALTER TABLE actions ADD COLUMN result JSONB;
