-- +goose Up
-- Budgets of sign-in attempts and emailed links, shared by every server
-- (when Redis is not configured). key_hash is the rule and a keyed hash of
-- what it counts (an email, an address, both), so that neither is stored;
-- full_at (Unix milliseconds) is when the budget is full again, after which
-- the row means nothing and the periodic sweep deletes it.
CREATE TABLE throttle_buckets (
    key_hash TEXT PRIMARY KEY,
    full_at  BIGINT NOT NULL
);
CREATE INDEX throttle_buckets_full_at ON throttle_buckets (full_at);

-- The role the session acts with in its active account: when it changes,
-- the session gets a new token.
ALTER TABLE sessions ADD COLUMN active_role TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sessions DROP COLUMN active_role;
DROP INDEX throttle_buckets_full_at;
DROP TABLE throttle_buckets;
