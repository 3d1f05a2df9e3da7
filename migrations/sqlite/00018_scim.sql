-- +goose Up
-- SCIM 2.0 provisioning: an organization's identity provider adds, updates
-- and removes its members with a bearer token (stored only as its hash).
CREATE TABLE scim_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id     TEXT NOT NULL UNIQUE,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_by_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at    DATETIME NOT NULL,
    revoked_at    DATETIME
);
CREATE INDEX scim_tokens_account ON scim_tokens (account_id, created_at DESC);

-- The users the IdP provisioned: its names for them (userName, externalId)
-- and whether it wants them active. An inactive one keeps its row, without
-- a membership, so that reactivating restores the membership.
CREATE TABLE scim_users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id     TEXT NOT NULL UNIQUE,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_name     TEXT NOT NULL,
    user_name_key TEXT NOT NULL,
    external_id   TEXT NOT NULL DEFAULT '',
    given_name    TEXT NOT NULL DEFAULT '',
    family_name   TEXT NOT NULL DEFAULT '',
    active        BOOLEAN NOT NULL,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL,
    UNIQUE (account_id, user_name_key),
    UNIQUE (account_id, user_id)
);
CREATE INDEX scim_users_external ON scim_users (account_id, external_id);
CREATE INDEX scim_users_user ON scim_users (user_id);

-- A membership the IdP manages: administrators do not change or remove it
-- by hand.
ALTER TABLE memberships ADD COLUMN scim_managed BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE memberships DROP COLUMN scim_managed;
DROP TABLE scim_users;
DROP TABLE scim_tokens;
