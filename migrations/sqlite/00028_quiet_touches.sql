-- +goose Up
-- Recording that a session or an API key was used (sessions.last_seen_at,
-- api_keys.last_used_at) is not news to the scope cache (PostgreSQL's
-- 00028 says why): the counter is raised by a change to any other column.
DROP TRIGGER sessions_scope_cache_update;
-- +goose StatementBegin
CREATE TRIGGER sessions_scope_cache_update AFTER UPDATE OF
	id, token_hash, user_id, active_account_id, data, ip, user_agent, created_at, expires_at,
	sso_account_id, active_role, auth_method, second_factor_pending
	ON sessions BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
DROP TRIGGER api_keys_scope_cache_update;
-- +goose StatementBegin
CREATE TRIGGER api_keys_scope_cache_update AFTER UPDATE OF
	id, public_id, account_id, user_id, name, prefix, key_hash, created_at, expires_at, revoked_at
	ON api_keys BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER api_keys_scope_cache_update;
-- +goose StatementBegin
CREATE TRIGGER api_keys_scope_cache_update AFTER UPDATE ON api_keys BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
DROP TRIGGER sessions_scope_cache_update;
-- +goose StatementBegin
CREATE TRIGGER sessions_scope_cache_update AFTER UPDATE ON sessions BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
