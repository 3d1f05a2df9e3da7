-- +goose Up
-- The kept lists (tenancy's Kept statements) hear of changes to indexes
-- and index_counts through this second counter, raised in the very
-- transaction of the change: it forgets every account's kept pages, and
-- leaves the scope cache (version) as it is.
ALTER TABLE scope_cache_news ADD COLUMN lists_version INTEGER NOT NULL DEFAULT 0;
-- +goose StatementBegin
CREATE TRIGGER indexes_account_lists_insert AFTER INSERT ON indexes BEGIN
	UPDATE scope_cache_news SET lists_version = lists_version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER indexes_account_lists_update AFTER UPDATE ON indexes BEGIN
	UPDATE scope_cache_news SET lists_version = lists_version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER indexes_account_lists_delete AFTER DELETE ON indexes BEGIN
	UPDATE scope_cache_news SET lists_version = lists_version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER index_counts_account_lists_insert AFTER INSERT ON index_counts BEGIN
	UPDATE scope_cache_news SET lists_version = lists_version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER index_counts_account_lists_update AFTER UPDATE ON index_counts BEGIN
	UPDATE scope_cache_news SET lists_version = lists_version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER index_counts_account_lists_delete AFTER DELETE ON index_counts BEGIN
	UPDATE scope_cache_news SET lists_version = lists_version + 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER index_counts_account_lists_delete;
DROP TRIGGER index_counts_account_lists_update;
DROP TRIGGER index_counts_account_lists_insert;
DROP TRIGGER indexes_account_lists_delete;
DROP TRIGGER indexes_account_lists_update;
DROP TRIGGER indexes_account_lists_insert;
ALTER TABLE scope_cache_news DROP COLUMN lists_version;
