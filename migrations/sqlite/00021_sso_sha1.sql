-- +goose Up
-- Responses signed or digested with SHA-1 are refused unless an
-- administrator allowed SHA-1 for a legacy identity provider.
ALTER TABLE sso_connections ADD COLUMN allow_sha1 BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE sso_connections DROP COLUMN allow_sha1;
