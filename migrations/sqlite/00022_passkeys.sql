-- +goose Up
-- A user's passkeys and security keys (WebAuthn credentials): like
-- totp_factors they belong to the user, not to an account. credential_id is
-- the authenticator's credential ID (base64url), unique across users so that
-- a discoverable sign-in names exactly one. credential is the verified
-- credential record as JSON (public key, flags, attestation format);
-- sign_count is the authenticator's signature counter, kept to notice a
-- cloned key.
CREATE TABLE passkeys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL,
    name          TEXT NOT NULL,
    credential    TEXT NOT NULL,
    sign_count    BIGINT NOT NULL DEFAULT 0,
    created_at    DATETIME NOT NULL,
    last_used_at  DATETIME
);
CREATE UNIQUE INDEX passkeys_credential_id ON passkeys (credential_id);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- WebAuthn ceremonies in progress: the challenge and what the ceremony
-- expects (session_data, JSON), for the browser that holds the token whose
-- hash is token_hash. A row is deleted by the request that finishes it,
-- whatever the outcome, so each challenge is answered at most once; rows
-- past expires_at are refused and swept. user_id is the user the ceremony
-- is for (NULL for a passwordless sign-in, which learns the user from the
-- passkey).
CREATE TABLE webauthn_challenges (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   TEXT NOT NULL,
    purpose      TEXT NOT NULL,
    user_id      BIGINT REFERENCES users (id) ON DELETE CASCADE,
    session_data TEXT NOT NULL,
    expires_at   DATETIME NOT NULL,
    created_at   DATETIME NOT NULL
);
CREATE UNIQUE INDEX webauthn_challenges_token ON webauthn_challenges (token_hash);
CREATE INDEX webauthn_challenges_expires ON webauthn_challenges (expires_at);

-- +goose Down
DROP INDEX webauthn_challenges_expires;
DROP INDEX webauthn_challenges_token;
DROP TABLE webauthn_challenges;
DROP INDEX passkeys_user;
DROP INDEX passkeys_credential_id;
DROP TABLE passkeys;
