-- +goose Up
-- Servers keep sessions and their users in memory too (the scope cache),
-- so that a page's session costs no statement: changes to these tables are
-- news as well, with the same notification as 00023's.
CREATE TRIGGER sessions_key_scopes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sessions
	FOR EACH STATEMENT EXECUTE FUNCTION switchboard_key_scopes_changed();
CREATE TRIGGER users_key_scopes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
	FOR EACH STATEMENT EXECUTE FUNCTION switchboard_key_scopes_changed();

-- +goose Down
DROP TRIGGER users_key_scopes ON users;
DROP TRIGGER sessions_key_scopes ON sessions;
