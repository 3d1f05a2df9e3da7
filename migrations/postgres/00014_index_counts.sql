-- +goose Up
-- How many indexes each member sees in an account, kept by the database in
-- the transaction that creates, deletes or re-owns an index, so that the
-- API's page_info.total_results does not count the account's indexes on
-- every request. A row per account and viewer: viewer_id 0 holds the
-- account's shared indexes, viewer_id = a user the private indexes they
-- created (-1 those whose creator is gone). A member sees the sum of rows 0
-- and their own, the same rows as visibleIndexes and the indexes' policy.
CREATE TABLE index_counts (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    viewer_id  BIGINT NOT NULL,
    n          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, viewer_id)
);
SELECT switchboard_protect('index_counts');
GRANT SELECT, INSERT, UPDATE, DELETE ON index_counts TO switchboard_app;

-- +goose StatementBegin
CREATE FUNCTION index_counts_viewer(visibility TEXT, created_by_id BIGINT) RETURNS BIGINT
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN visibility = 'private' THEN COALESCE(created_by_id, -1) ELSE 0 END
$$;
-- +goose StatementEnd

-- The trigger runs as whoever changes the index (under row security as a
-- request, as the owner through the system door); the row it changes is
-- always of the index's account, which the index's own policy admitted.
-- INSERT … ON CONFLICT takes the row's lock: concurrent creations queue on
-- it and each adds its one.
-- +goose StatementBegin
CREATE FUNCTION index_counts_keep() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE index_counts SET n = n - 1
        WHERE account_id = OLD.account_id AND viewer_id = index_counts_viewer(OLD.visibility, OLD.created_by_id);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO index_counts (account_id, viewer_id, n)
        VALUES (NEW.account_id, index_counts_viewer(NEW.visibility, NEW.created_by_id), 1)
        ON CONFLICT (account_id, viewer_id) DO UPDATE SET n = index_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER indexes_count_insert AFTER INSERT ON indexes
    FOR EACH ROW EXECUTE FUNCTION index_counts_keep();
CREATE TRIGGER indexes_count_delete AFTER DELETE ON indexes
    FOR EACH ROW EXECUTE FUNCTION index_counts_keep();
CREATE TRIGGER indexes_count_update AFTER UPDATE ON indexes
    FOR EACH ROW WHEN (OLD.account_id <> NEW.account_id
        OR index_counts_viewer(OLD.visibility, OLD.created_by_id) <> index_counts_viewer(NEW.visibility, NEW.created_by_id))
    EXECUTE FUNCTION index_counts_keep();

INSERT INTO index_counts (account_id, viewer_id, n)
SELECT account_id, index_counts_viewer(visibility, created_by_id), COUNT(*) FROM indexes GROUP BY 1, 2;

-- +goose Down
DROP TRIGGER indexes_count_update ON indexes;
DROP TRIGGER indexes_count_delete ON indexes;
DROP TRIGGER indexes_count_insert ON indexes;
DROP FUNCTION index_counts_keep();
DROP FUNCTION index_counts_viewer(TEXT, BIGINT);
DROP TABLE index_counts;
