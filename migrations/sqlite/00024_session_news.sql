-- +goose Up
-- PostgreSQL's version tells servers when sessions and users change. SQLite
-- has no notifications: its servers keep no cache, and read every session
-- from the database.
SELECT 1;

-- +goose Down
SELECT 1;
