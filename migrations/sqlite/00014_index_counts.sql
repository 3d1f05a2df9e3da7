-- +goose Up
-- How many indexes each member sees in an account, kept by the database in
-- the transaction that creates, deletes or re-owns an index, so that the
-- API's page_info.total_results does not count the account's indexes on
-- every request. A row per account and viewer: viewer_id 0 holds the
-- account's shared indexes, viewer_id = a user the private indexes they
-- created (-1 those whose creator is gone). A member sees the sum of rows 0
-- and their own, the same rows as visibleIndexes.
CREATE TABLE index_counts (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    viewer_id  BIGINT NOT NULL,
    n          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, viewer_id)
);

-- SQLite's writers take turns (IMMEDIATE transactions), so each trigger's
-- read-and-add is exact.
-- +goose StatementBegin
CREATE TRIGGER indexes_count_insert AFTER INSERT ON indexes
BEGIN
    INSERT INTO index_counts (account_id, viewer_id, n)
    VALUES (NEW.account_id, CASE WHEN NEW.visibility = 'private' THEN COALESCE(NEW.created_by_id, -1) ELSE 0 END, 1)
    ON CONFLICT (account_id, viewer_id) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER indexes_count_delete AFTER DELETE ON indexes
BEGIN
    UPDATE index_counts SET n = n - 1
    WHERE account_id = OLD.account_id
      AND viewer_id = CASE WHEN OLD.visibility = 'private' THEN COALESCE(OLD.created_by_id, -1) ELSE 0 END;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER indexes_count_update AFTER UPDATE ON indexes
WHEN OLD.account_id <> NEW.account_id
  OR (CASE WHEN OLD.visibility = 'private' THEN COALESCE(OLD.created_by_id, -1) ELSE 0 END)
  <> (CASE WHEN NEW.visibility = 'private' THEN COALESCE(NEW.created_by_id, -1) ELSE 0 END)
BEGIN
    UPDATE index_counts SET n = n - 1
    WHERE account_id = OLD.account_id
      AND viewer_id = CASE WHEN OLD.visibility = 'private' THEN COALESCE(OLD.created_by_id, -1) ELSE 0 END;
    INSERT INTO index_counts (account_id, viewer_id, n)
    VALUES (NEW.account_id, CASE WHEN NEW.visibility = 'private' THEN COALESCE(NEW.created_by_id, -1) ELSE 0 END, 1)
    ON CONFLICT (account_id, viewer_id) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

INSERT INTO index_counts (account_id, viewer_id, n)
SELECT account_id, CASE WHEN visibility = 'private' THEN COALESCE(created_by_id, -1) ELSE 0 END, COUNT(*)
FROM indexes GROUP BY 1, 2;

-- +goose Down
DROP TRIGGER indexes_count_update;
DROP TRIGGER indexes_count_delete;
DROP TRIGGER indexes_count_insert;
DROP TABLE index_counts;
