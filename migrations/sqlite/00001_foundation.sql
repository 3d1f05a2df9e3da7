-- +goose Up
CREATE TABLE users (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id         TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL,
    email             TEXT NOT NULL UNIQUE,
    password_hash     TEXT NOT NULL DEFAULT '',
    email_verified_at DATETIME,
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL
);

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id     TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('personal', 'organization')),
    name          TEXT NOT NULL,
    slug          TEXT UNIQUE,
    plan          TEXT NOT NULL DEFAULT 'free',
    created_by_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);
-- Every user has exactly one personal account and may create one organization.
CREATE UNIQUE INDEX accounts_one_personal_per_user ON accounts (created_by_id) WHERE kind = 'personal';
CREATE UNIQUE INDEX accounts_one_organization_per_creator ON accounts (created_by_id) WHERE kind = 'organization';

CREATE TABLE memberships (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at DATETIME NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE sessions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash        TEXT NOT NULL UNIQUE,
    user_id           BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    active_account_id BIGINT,
    data              TEXT NOT NULL DEFAULT '{}',
    ip                TEXT NOT NULL DEFAULT '',
    user_agent        TEXT NOT NULL DEFAULT '',
    created_at        DATETIME NOT NULL,
    last_seen_at      DATETIME NOT NULL,
    expires_at        DATETIME NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE email_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL CHECK (purpose IN ('verify', 'reset')),
    email      TEXT NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME,
    created_at DATETIME NOT NULL
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);

-- An account's audit trail is deleted with the account.
CREATE TABLE audit_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    actor_user_id BIGINT,
    actor_name    TEXT NOT NULL DEFAULT '',
    action        TEXT NOT NULL,
    target        TEXT NOT NULL DEFAULT '',
    details       TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL
);
CREATE INDEX audit_events_account_time ON audit_events (account_id, created_at DESC, id DESC);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE email_tokens;
DROP TABLE sessions;
DROP TABLE memberships;
DROP TABLE accounts;
DROP TABLE users;
