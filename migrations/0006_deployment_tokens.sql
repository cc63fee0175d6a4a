-- The token a deployment finds in CONTAXY_API_TOKEN: one per deployment,
-- scoped to the deployment itself, minted by the worker that starts it and
-- gone with the deployment's row (contaxy never revoked these).
ALTER TABLE api_tokens
    ADD COLUMN deployment_id TEXT REFERENCES deployments (id) ON DELETE CASCADE;

CREATE UNIQUE INDEX api_tokens_one_per_deployment
    ON api_tokens (deployment_id) WHERE deployment_id IS NOT NULL;
