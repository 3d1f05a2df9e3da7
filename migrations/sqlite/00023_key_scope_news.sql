-- +goose Up
-- PostgreSQL's version adds the triggers that tell servers when API keys'
-- scopes change. SQLite has no notifications: its servers keep no key
-- cache, and read every key from the database.
SELECT 1;

-- +goose Down
SELECT 1;
