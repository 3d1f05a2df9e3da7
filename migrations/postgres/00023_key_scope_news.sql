-- +goose Up
-- Servers keep API keys' scopes in memory (the key cache) and forget them
-- when PostgreSQL tells them that a table a key's scope is read from has
-- changed: these triggers NOTIFY on every change, whatever makes it, when
-- its transaction commits (one notification a transaction: identical ones
-- are folded). The payload is the tables' schema, so that deployments
-- sharing a database in schemas of their own hear only their news.
-- +goose StatementBegin
CREATE FUNCTION switchboard_key_scopes_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('switchboard_key_scopes', TG_TABLE_SCHEMA);
	RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER api_keys_key_scopes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION switchboard_key_scopes_changed();
CREATE TRIGGER memberships_key_scopes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON memberships
	FOR EACH STATEMENT EXECUTE FUNCTION switchboard_key_scopes_changed();
CREATE TRIGGER accounts_key_scopes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON accounts
	FOR EACH STATEMENT EXECUTE FUNCTION switchboard_key_scopes_changed();
CREATE TRIGGER totp_factors_key_scopes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON totp_factors
	FOR EACH STATEMENT EXECUTE FUNCTION switchboard_key_scopes_changed();
CREATE TRIGGER passkeys_key_scopes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON passkeys
	FOR EACH STATEMENT EXECUTE FUNCTION switchboard_key_scopes_changed();

-- +goose Down
DROP TRIGGER passkeys_key_scopes ON passkeys;
DROP TRIGGER totp_factors_key_scopes ON totp_factors;
DROP TRIGGER accounts_key_scopes ON accounts;
DROP TRIGGER memberships_key_scopes ON memberships;
DROP TRIGGER api_keys_key_scopes ON api_keys;
DROP FUNCTION switchboard_key_scopes_changed();
