-- +goose Up
-- SQLite has no row-level security: between accounts, the application's
-- wall stands alone there (see models/tenancy.go). This version keeps the
-- two dialects' histories in step.
SELECT 1;

-- +goose Down
SELECT 1;
