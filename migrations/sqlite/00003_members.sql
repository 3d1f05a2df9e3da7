-- +goose Up
CREATE TABLE invitations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id     TEXT NOT NULL UNIQUE,
    account_id    BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    token_hash    TEXT NOT NULL UNIQUE,
    invited_by_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    expires_at    DATETIME NOT NULL,
    sent_at       DATETIME NOT NULL,
    accepted_at   DATETIME,
    accepted_by_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    revoked_at    DATETIME,
    created_at    DATETIME NOT NULL
);
-- At most one open (neither accepted nor revoked) invitation per address and account.
CREATE UNIQUE INDEX invitations_open_email ON invitations (account_id, email) WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_account_created ON invitations (account_id, created_at DESC, id DESC);

-- +goose Down
DROP TABLE invitations;
