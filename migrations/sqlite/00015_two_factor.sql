-- +goose Up
-- A user's authenticator app (TOTP, RFC 6238). secret_sealed is the shared
-- secret encrypted with a key derived from the deployment's secret; a row
-- without enabled_at is an enrolment not yet confirmed with a code.
-- last_step is the last time step whose code was accepted: a code is
-- accepted only for a later step, so none is used twice.
CREATE TABLE totp_factors (
    user_id       BIGINT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    last_step     BIGINT NOT NULL DEFAULT 0,
    enabled_at    DATETIME,
    created_at    DATETIME NOT NULL
);

-- Single-use recovery codes, kept only as hashes.
CREATE TABLE recovery_codes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    DATETIME,
    created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX recovery_codes_user_hash ON recovery_codes (user_id, code_hash);

-- How a session signed in (password, password+2fa, passkey, sso), and
-- whether it still owes its second factor (then it reaches no page).
ALTER TABLE sessions ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'password';
ALTER TABLE sessions ADD COLUMN second_factor_pending BOOLEAN NOT NULL DEFAULT FALSE;

-- Members of an organization with require_2fa reach it only with a second
-- factor (or signed in through its IdP).
ALTER TABLE accounts ADD COLUMN require_2fa BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE accounts DROP COLUMN require_2fa;
ALTER TABLE sessions DROP COLUMN second_factor_pending;
ALTER TABLE sessions DROP COLUMN auth_method;
DROP INDEX recovery_codes_user_hash;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
