-- Project networks: the subnet each project's network has, cut from the
-- configured pool, and which deployments are attached to it.
--
-- Allocation inserts the lowest free subnet and lets these constraints
-- decide races: two workers that pick the same subnet at the same moment
-- cannot both commit it, and the loser picks again (docs/networks.md).

CREATE TABLE networks (
    -- The owning project; NULL only on a blocked row. No foreign key: a row
    -- may outlive its project's row, and the cleanup sweep frees it then.
    project_id    TEXT UNIQUE,
    -- The runtime's name for it ({namespace}-p-{project}-network).
    name          TEXT UNIQUE,
    subnet        CIDR NOT NULL UNIQUE CHECK (family(subnet) = 4),
    gateway       INET NOT NULL CHECK (gateway << subnet),
    -- allocated: the subnet is the project's, the runtime may not have the
    -- network yet; ready: it has; deleting: being removed; blocked: the
    -- runtime refused the subnet (it overlaps something we do not manage),
    -- so it is held back from allocation for a while.
    status        TEXT NOT NULL DEFAULT 'allocated'
                  CHECK (status IN ('allocated', 'ready', 'deleting', 'blocked')),
    status_detail TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((project_id IS NULL) = (status = 'blocked')),
    CHECK ((project_id IS NULL) = (name IS NULL)),
    -- The prefix length is configurable, so equal subnets are not the only
    -- clash: no two rows may share a single address.
    CONSTRAINT networks_subnets_disjoint EXCLUDE USING gist (subnet inet_ops WITH &&)
);

-- Which deployments' containers are attached to their project's network.
-- Written by the worker (deploy, connect, disconnect) and corrected from
-- the runtime by its periodic sweep; read by GET /projects/{id}/networks.
CREATE TABLE network_attachments (
    deployment_id TEXT PRIMARY KEY REFERENCES deployments (id) ON DELETE CASCADE,
    project_id    TEXT NOT NULL,
    attached_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX network_attachments_by_project ON network_attachments (project_id, deployment_id);
