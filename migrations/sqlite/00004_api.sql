-- +goose Up
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id    TEXT NOT NULL UNIQUE,
    account_id   BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL,
    last_used_at DATETIME,
    revoked_at   DATETIME
);
CREATE INDEX api_keys_account_user ON api_keys (account_id, user_id, created_at DESC);

-- Enterprise accounts get limits set by an operator; NULL means the plan's.
ALTER TABLE accounts ADD COLUMN rate_per_minute BIGINT;
ALTER TABLE accounts ADD COLUMN rate_per_day BIGINT;

-- One row per account: the current minute's and day's request counts. A
-- single conditional upsert takes a request from both windows atomically.
CREATE TABLE rate_windows (
    account_id   BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    minute_start BIGINT NOT NULL,
    minute_count BIGINT NOT NULL,
    day_start    BIGINT NOT NULL,
    day_count    BIGINT NOT NULL
);

-- Raw usage, written in batches, and its daily rollup, which pages read.
CREATE TABLE usage_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id     BIGINT,
    api_key_id  BIGINT,
    metric      TEXT NOT NULL,
    category    TEXT NOT NULL DEFAULT '',
    quantity    BIGINT NOT NULL,
    occurred_at DATETIME NOT NULL
);
CREATE INDEX usage_events_account_time ON usage_events (account_id, occurred_at);

CREATE TABLE usage_daily (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    day        TEXT NOT NULL, -- YYYY-MM-DD, UTC
    user_id    BIGINT NOT NULL,
    metric     TEXT NOT NULL,
    category   TEXT NOT NULL DEFAULT '',
    quantity   BIGINT NOT NULL,
    PRIMARY KEY (account_id, day, user_id, metric, category)
);

-- +goose Down
DROP TABLE usage_daily;
DROP TABLE usage_events;
DROP TABLE rate_windows;
ALTER TABLE accounts DROP COLUMN rate_per_day;
ALTER TABLE accounts DROP COLUMN rate_per_minute;
DROP TABLE api_keys;
