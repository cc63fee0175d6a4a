-- What the runtime made of a deployment, for the API's answers as contaxy
-- gives them: `internal_id` is the runtime's own id (a container id on
-- Docker), `expanded_parameters` the user's parameters with their
-- templates expanded as the container got them. Written by the worker on
-- each deploy; NULL until then (the API then shows the id and the
-- parameters as given).
ALTER TABLE deployments
    ADD COLUMN internal_id TEXT,
    ADD COLUMN expanded_parameters JSONB;
