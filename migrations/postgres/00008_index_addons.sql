-- +goose Up
-- The add-ons an index was created with (the platform API's "addons"),
-- comma-separated like the models' options; empty when none.
ALTER TABLE indexes ADD COLUMN addons TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE indexes DROP COLUMN addons;
