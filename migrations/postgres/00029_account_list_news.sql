-- +goose Up
-- Servers keep pages of an account's lists in memory (tenancy's Kept
-- statements) and forget an account's pages when PostgreSQL tells them
-- that the account's indexes changed: these triggers NOTIFY on every
-- change to a row of indexes or index_counts, whatever makes it, when its
-- transaction commits, naming the tables' schema and the row's account
-- (identical notifications of a transaction are folded into one). A
-- TRUNCATE names the schema alone: every account's pages go. Changes to
-- the other tables the kept lists read (users, memberships, accounts) are
-- the scope cache's news (00023, 00024), which forgets every page.
-- +goose StatementBegin
CREATE FUNCTION switchboard_account_lists_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		PERFORM pg_notify('switchboard_account_lists', TG_TABLE_SCHEMA);
		RETURN NULL;
	END IF;
	IF TG_OP <> 'INSERT' THEN
		PERFORM pg_notify('switchboard_account_lists', TG_TABLE_SCHEMA || ' ' || OLD.account_id);
	END IF;
	IF TG_OP <> 'DELETE' THEN
		PERFORM pg_notify('switchboard_account_lists', TG_TABLE_SCHEMA || ' ' || NEW.account_id);
	END IF;
	RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER indexes_account_lists AFTER INSERT OR UPDATE OR DELETE ON indexes
	FOR EACH ROW EXECUTE FUNCTION switchboard_account_lists_changed();
CREATE TRIGGER indexes_account_lists_truncate AFTER TRUNCATE ON indexes
	FOR EACH STATEMENT EXECUTE FUNCTION switchboard_account_lists_changed();
CREATE TRIGGER index_counts_account_lists AFTER INSERT OR UPDATE OR DELETE ON index_counts
	FOR EACH ROW EXECUTE FUNCTION switchboard_account_lists_changed();
CREATE TRIGGER index_counts_account_lists_truncate AFTER TRUNCATE ON index_counts
	FOR EACH STATEMENT EXECUTE FUNCTION switchboard_account_lists_changed();

-- +goose Down
DROP TRIGGER index_counts_account_lists_truncate ON index_counts;
DROP TRIGGER index_counts_account_lists ON index_counts;
DROP TRIGGER indexes_account_lists_truncate ON indexes;
DROP TRIGGER indexes_account_lists ON indexes;
DROP FUNCTION switchboard_account_lists_changed();
