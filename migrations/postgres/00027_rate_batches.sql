-- +goose Up
-- How many requests the last take of an account's windows let through: a
-- server takes the requests of one account that wait together in one
-- statement, and hands its grants out in their order.
ALTER TABLE rate_windows ADD COLUMN last_taken BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE rate_windows DROP COLUMN last_taken;
