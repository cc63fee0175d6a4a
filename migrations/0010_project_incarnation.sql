-- A project's incarnation: a random id drawn when the project is created and
-- never drawn again. A deleted project's id may be taken again; whatever is
-- derived from a project (its tokens) also carries the incarnation, so
-- nothing the old project had reaches the new one.
ALTER TABLE projects ADD COLUMN incarnation UUID NOT NULL DEFAULT gen_random_uuid();
