-- +goose Up
-- An organization's SAML identity provider and its sign-in rules.
CREATE TABLE sso_connections (
    account_id          BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    idp_metadata_xml    TEXT NOT NULL,
    idp_metadata_url    TEXT NOT NULL DEFAULT '',
    idp_entity_id       TEXT NOT NULL,
    jit                 BOOLEAN NOT NULL DEFAULT FALSE,
    default_role        TEXT NOT NULL DEFAULT 'member' CHECK (default_role IN ('admin', 'member')),
    enforce             BOOLEAN NOT NULL DEFAULT FALSE,
    allow_idp_initiated BOOLEAN NOT NULL DEFAULT FALSE,
    email_attribute     TEXT NOT NULL DEFAULT '',
    name_attribute      TEXT NOT NULL DEFAULT '',
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);

-- Email domains that belong to an organization; a domain belongs to one.
CREATE TABLE sso_domains (
    domain     TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE
);
CREATE INDEX sso_domains_account ON sso_domains (account_id);

-- AuthnRequests this service provider issued, until answered or expired.
CREATE TABLE sso_requests (
    id          TEXT PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('login', 'test')),
    user_id     BIGINT,
    result      TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    consumed_at TIMESTAMPTZ
);

-- IDs of accepted assertions, kept until they expire, so none is used twice.
CREATE TABLE sso_replays (
    assertion_id TEXT PRIMARY KEY,
    expires_at   TIMESTAMPTZ NOT NULL
);

-- The service provider's signing key and certificate (one per deployment).
CREATE TABLE sp_keys (
    id          BIGINT PRIMARY KEY,
    key_pem     TEXT NOT NULL,
    cert_pem    TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- Enforcement is read with every scope check, so it lives on the account.
ALTER TABLE accounts ADD COLUMN sso_enforced BOOLEAN NOT NULL DEFAULT FALSE;
-- The organization a session signed in to through its IdP, if any.
ALTER TABLE sessions ADD COLUMN sso_account_id BIGINT;
-- When a member last signed in through the organization's IdP.
ALTER TABLE memberships ADD COLUMN sso_signed_in_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE memberships DROP COLUMN sso_signed_in_at;
ALTER TABLE sessions DROP COLUMN sso_account_id;
ALTER TABLE accounts DROP COLUMN sso_enforced;
DROP TABLE sp_keys;
DROP TABLE sso_replays;
DROP TABLE sso_requests;
DROP TABLE sso_domains;
DROP TABLE sso_connections;
