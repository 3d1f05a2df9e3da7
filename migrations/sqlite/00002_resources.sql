-- +goose Up
CREATE TABLE indexes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id       TEXT NOT NULL UNIQUE,
    account_id      BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    name_key        TEXT NOT NULL,
    marengo_options TEXT NOT NULL DEFAULT '',
    pegasus_options TEXT NOT NULL DEFAULT '',
    visibility      TEXT NOT NULL DEFAULT 'account' CHECK (visibility IN ('account', 'private')),
    name_scope      BIGINT NOT NULL DEFAULT 0,
    created_by_id   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    video_count     BIGINT NOT NULL DEFAULT 0,
    total_duration  BIGINT NOT NULL DEFAULT 0,
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);
-- Names are unique, case-insensitively (name_key is the lower-cased name),
-- among what one member sees: the account's shared indexes (name_scope 0)
-- and each creator's private ones (name_scope = creator), so that a private
-- index never makes another member's name "taken".
CREATE UNIQUE INDEX indexes_account_name ON indexes (account_id, name_scope, name_key);
CREATE INDEX indexes_account_name_order ON indexes (account_id, name_key, id);
CREATE INDEX indexes_account_created ON indexes (account_id, created_at DESC, id DESC);
CREATE INDEX indexes_account_creator ON indexes (account_id, created_by_id);

CREATE TABLE videos (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id        TEXT NOT NULL UNIQUE,
    account_id       BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    index_id         BIGINT NOT NULL REFERENCES indexes (id) ON DELETE CASCADE,
    title            TEXT NOT NULL,
    source_url       TEXT NOT NULL,
    duration_seconds BIGINT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'ready',
    created_by_id    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL
);
CREATE INDEX videos_account_index_created ON videos (account_id, index_id, created_at DESC, id DESC);
CREATE INDEX videos_index ON videos (index_id);

CREATE TABLE s3_integrations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id     TEXT NOT NULL UNIQUE,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    bucket        TEXT NOT NULL,
    region        TEXT NOT NULL,
    role_arn      TEXT NOT NULL,
    prefix        TEXT NOT NULL DEFAULT '',
    external_id   TEXT NOT NULL UNIQUE,
    created_by_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);
CREATE INDEX s3_integrations_account_created ON s3_integrations (account_id, created_at DESC, id DESC);

-- +goose Down
DROP TABLE s3_integrations;
DROP TABLE videos;
DROP TABLE indexes;
