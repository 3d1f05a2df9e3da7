-- +goose Up
-- A domain is proved by a DNS TXT record carrying its token. Only a proved
-- domain lets the organization's IdP sign in people who already had an
-- account here.
ALTER TABLE sso_domains ADD COLUMN verification_token TEXT NOT NULL DEFAULT '';
ALTER TABLE sso_domains ADD COLUMN verified_at TIMESTAMPTZ;
-- The organization whose IdP created the user, if one did.
ALTER TABLE users ADD COLUMN sso_origin_account_id BIGINT;
-- A sign-in is finished by the browser that started it: the hash of a
-- nonce in its cookie, who the IdP said it was, and when the session was
-- taken.
ALTER TABLE sso_requests ADD COLUMN browser_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE sso_requests ADD COLUMN outcome_user_id BIGINT;
ALTER TABLE sso_requests ADD COLUMN taken_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE sso_requests DROP COLUMN taken_at;
ALTER TABLE sso_requests DROP COLUMN outcome_user_id;
ALTER TABLE sso_requests DROP COLUMN browser_hash;
ALTER TABLE users DROP COLUMN sso_origin_account_id;
ALTER TABLE sso_domains DROP COLUMN verified_at;
ALTER TABLE sso_domains DROP COLUMN verification_token;
