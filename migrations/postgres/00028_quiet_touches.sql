-- +goose Up
-- Recording that a session or an API key was used (sessions.last_seen_at,
-- api_keys.last_used_at) is not news to the scope cache, which keeps
-- neither column's value for anything but the touch itself: every active
-- session touched every few minutes, and the keys the usage recorder
-- touches every few seconds, emptied every server's cache. Every other
-- column's change still notifies; tenancy's quietColumns names these two
-- and a test checks the triggers against it.
DROP TRIGGER sessions_key_scopes ON sessions;
CREATE TRIGGER sessions_key_scopes AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF
	id, token_hash, user_id, active_account_id, data, ip, user_agent, created_at, expires_at,
	sso_account_id, active_role, auth_method, second_factor_pending
	ON sessions FOR EACH STATEMENT EXECUTE FUNCTION switchboard_key_scopes_changed();
DROP TRIGGER api_keys_key_scopes ON api_keys;
CREATE TRIGGER api_keys_key_scopes AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF
	id, public_id, account_id, user_id, name, prefix, key_hash, created_at, expires_at, revoked_at
	ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION switchboard_key_scopes_changed();

-- +goose Down
DROP TRIGGER api_keys_key_scopes ON api_keys;
CREATE TRIGGER api_keys_key_scopes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION switchboard_key_scopes_changed();
DROP TRIGGER sessions_key_scopes ON sessions;
CREATE TRIGGER sessions_key_scopes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sessions
	FOR EACH STATEMENT EXECUTE FUNCTION switchboard_key_scopes_changed();
