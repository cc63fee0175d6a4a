-- Access: project members and API tokens.
--
-- Tokens are stored only as the SHA-256 of their text (token_hash). Project
-- tokens are derived (HMAC of a server secret, the project, the level and a
-- generation), so the server can hand out the same one again without storing
-- it; see docs/api.md.

ALTER TABLE projects
    ADD COLUMN icon TEXT NOT NULL DEFAULT '' CHECK (char_length(icon) <= 2000);

-- Who may do what in a project. A user's token acts in a project only up to
-- the user's level here (its scopes may narrow that further, never widen it).
CREATE TABLE project_members (
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL
                 CHECK (user_id ~ '^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$' AND user_id NOT LIKE '%--%'),
    access_level TEXT NOT NULL CHECK (access_level IN ('read', 'write', 'admin')),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by   TEXT,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by   TEXT,
    PRIMARY KEY (project_id, user_id)
);

CREATE INDEX project_members_by_user ON project_members (user_id);

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    token_hash   BYTEA NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    -- users/{id} or projects/{id}.
    subject      TEXT NOT NULL CHECK (subject ~ '^(users|projects)/[a-zA-Z0-9-]+$'),
    -- Permission strings {resource}#{read|write|admin}.
    scopes       TEXT[] NOT NULL CHECK (cardinality(scopes) BETWEEN 1 AND 64),
    description  TEXT NOT NULL DEFAULT '' CHECK (char_length(description) <= 240),
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by   TEXT,
    -- Set for project tokens only: which project, level and generation the
    -- token was derived for. Deleting the project's row removes them.
    project_id   TEXT REFERENCES projects (id) ON DELETE CASCADE,
    access_level TEXT CHECK (access_level IN ('read', 'write', 'admin')),
    generation   INTEGER CHECK (generation >= 0),
    CHECK ((project_id IS NULL) = (access_level IS NULL)
       AND (project_id IS NULL) = (generation IS NULL))
);

-- One token per (project, level, generation): concurrent first calls derive
-- the same token and the second insert is a no-op.
CREATE UNIQUE INDEX api_tokens_project_generation
    ON api_tokens (project_id, access_level, generation) WHERE project_id IS NOT NULL;
CREATE INDEX api_tokens_by_subject ON api_tokens (subject, created_at);
