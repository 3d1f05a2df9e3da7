-- +goose Up
-- The scope cache on SQLite hears of changes through this counter rather
-- than the database file's data_version: triggers raise it in the very
-- transaction that changes a table the cache is read from (the list of
-- 00023 and 00024), so writes to other tables, such as the rate limiter's
-- on every API request, no longer empty the cache.
CREATE TABLE scope_cache_news (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	version INTEGER NOT NULL
);
INSERT INTO scope_cache_news (id, version) VALUES (1, 0);
-- +goose StatementBegin
CREATE TRIGGER accounts_scope_cache_insert AFTER INSERT ON accounts BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER accounts_scope_cache_update AFTER UPDATE ON accounts BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER accounts_scope_cache_delete AFTER DELETE ON accounts BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_keys_scope_cache_insert AFTER INSERT ON api_keys BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_keys_scope_cache_update AFTER UPDATE ON api_keys BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER api_keys_scope_cache_delete AFTER DELETE ON api_keys BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER memberships_scope_cache_insert AFTER INSERT ON memberships BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER memberships_scope_cache_update AFTER UPDATE ON memberships BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER memberships_scope_cache_delete AFTER DELETE ON memberships BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER passkeys_scope_cache_insert AFTER INSERT ON passkeys BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER passkeys_scope_cache_update AFTER UPDATE ON passkeys BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER passkeys_scope_cache_delete AFTER DELETE ON passkeys BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER sessions_scope_cache_insert AFTER INSERT ON sessions BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER sessions_scope_cache_update AFTER UPDATE ON sessions BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER sessions_scope_cache_delete AFTER DELETE ON sessions BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER totp_factors_scope_cache_insert AFTER INSERT ON totp_factors BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER totp_factors_scope_cache_update AFTER UPDATE ON totp_factors BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER totp_factors_scope_cache_delete AFTER DELETE ON totp_factors BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER users_scope_cache_insert AFTER INSERT ON users BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER users_scope_cache_update AFTER UPDATE ON users BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER users_scope_cache_delete AFTER DELETE ON users BEGIN
	UPDATE scope_cache_news SET version = version + 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER users_scope_cache_delete;
DROP TRIGGER users_scope_cache_update;
DROP TRIGGER users_scope_cache_insert;
DROP TRIGGER totp_factors_scope_cache_delete;
DROP TRIGGER totp_factors_scope_cache_update;
DROP TRIGGER totp_factors_scope_cache_insert;
DROP TRIGGER sessions_scope_cache_delete;
DROP TRIGGER sessions_scope_cache_update;
DROP TRIGGER sessions_scope_cache_insert;
DROP TRIGGER passkeys_scope_cache_delete;
DROP TRIGGER passkeys_scope_cache_update;
DROP TRIGGER passkeys_scope_cache_insert;
DROP TRIGGER memberships_scope_cache_delete;
DROP TRIGGER memberships_scope_cache_update;
DROP TRIGGER memberships_scope_cache_insert;
DROP TRIGGER api_keys_scope_cache_delete;
DROP TRIGGER api_keys_scope_cache_update;
DROP TRIGGER api_keys_scope_cache_insert;
DROP TRIGGER accounts_scope_cache_delete;
DROP TRIGGER accounts_scope_cache_update;
DROP TRIGGER accounts_scope_cache_insert;
DROP TABLE scope_cache_news;
