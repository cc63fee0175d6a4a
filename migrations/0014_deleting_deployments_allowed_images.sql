-- Two things contaxy's clients expect (issue 14).
--
-- 1. A deployment whose delete is accepted is gone from reads at once. The
--    delete's transaction sets `deleting_since`; the API's reads leave such
--    rows out; the worker removes the row once the container is gone, unless
--    a deploy of the same id was accepted since (it took the row back by
--    clearing the mark, see store::deployments::insert).
ALTER TABLE deployments ADD COLUMN deleting_since TIMESTAMPTZ;

-- Deletes accepted before this migration and not yet done.
UPDATE deployments d SET deleting_since = now()
WHERE EXISTS (
    SELECT 1 FROM actions a
    WHERE a.project_id = d.project_id AND a.resource_id = d.id
      AND a.kind = 'deployment.delete'
      AND a.status IN ('queued', 'running', 'retrying')
      AND NOT COALESCE((a.payload->>'archive_logs')::boolean, false)
);

-- 2. The image allow-list (`/system/allowed-images`). Empty: every image is
--    allowed. Otherwise a deploy's image must match an entry: its name
--    (registry and repository, normalized: `busybox` is
--    `docker.io/library/busybox`) and one of its tags (`*` for any).
CREATE TABLE allowed_images (
    -- As the admin wrote it (lowercase), and what DELETE names.
    image_name  TEXT PRIMARY KEY CHECK (char_length(image_name) BETWEEN 1 AND 2000),
    -- `registry/repository`, what deploys are matched on.
    normalized  TEXT NOT NULL,
    image_tags  TEXT[] NOT NULL,
    metadata    JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by  TEXT
);

CREATE INDEX allowed_images_by_normalized ON allowed_images (normalized);
