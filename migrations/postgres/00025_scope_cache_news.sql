-- +goose Up
-- SQLite's servers hear of changes to the scope cache's tables through a
-- counter its triggers raise (its 00025); PostgreSQL's are notified
-- (00023, 00024).
SELECT 1;

-- +goose Down
SELECT 1;
