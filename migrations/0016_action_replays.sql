-- A failed action can be replayed by an administrator (from the dead
-- queue): it runs again with a fresh attempt budget, and its row keeps how
-- often, when last and by whom.
ALTER TABLE actions ADD COLUMN replays INTEGER NOT NULL DEFAULT 0;
ALTER TABLE actions ADD COLUMN replayed_at TIMESTAMPTZ;
ALTER TABLE actions ADD COLUMN replayed_by TEXT;
