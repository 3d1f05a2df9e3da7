-- +goose Up
-- The whole account's usage per day, without the per-member split: the usage
-- page's charts read a few hundred rows of it instead of summing every
-- member's rows. Triggers keep it equal to usage_daily summed over members,
-- whoever writes usage_daily (the usage recorder, storage snapshots, imports).
CREATE TABLE usage_daily_account (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    day        TEXT NOT NULL, -- YYYY-MM-DD, UTC
    metric     TEXT NOT NULL,
    category   TEXT NOT NULL DEFAULT '',
    quantity   BIGINT NOT NULL,
    PRIMARY KEY (account_id, day, metric, category)
);

INSERT INTO usage_daily_account (account_id, day, metric, category, quantity)
SELECT account_id, day, metric, category, SUM(quantity) FROM usage_daily
GROUP BY account_id, day, metric, category;

-- +goose StatementBegin
CREATE TRIGGER usage_daily_account_insert AFTER INSERT ON usage_daily
BEGIN
    INSERT INTO usage_daily_account (account_id, day, metric, category, quantity)
    VALUES (NEW.account_id, NEW.day, NEW.metric, NEW.category, NEW.quantity)
    ON CONFLICT (account_id, day, metric, category)
    DO UPDATE SET quantity = quantity + excluded.quantity;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER usage_daily_account_update AFTER UPDATE ON usage_daily
BEGIN
    UPDATE usage_daily_account SET quantity = quantity - OLD.quantity
    WHERE account_id = OLD.account_id AND day = OLD.day AND metric = OLD.metric AND category = OLD.category;
    INSERT INTO usage_daily_account (account_id, day, metric, category, quantity)
    VALUES (NEW.account_id, NEW.day, NEW.metric, NEW.category, NEW.quantity)
    ON CONFLICT (account_id, day, metric, category)
    DO UPDATE SET quantity = quantity + excluded.quantity;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER usage_daily_account_delete AFTER DELETE ON usage_daily
BEGIN
    UPDATE usage_daily_account SET quantity = quantity - OLD.quantity
    WHERE account_id = OLD.account_id AND day = OLD.day AND metric = OLD.metric AND category = OLD.category;
END;
-- +goose StatementEnd

-- One member's usage over a range of days (the page of a regular member).
CREATE INDEX usage_daily_member ON usage_daily (account_id, user_id, day);

-- +goose Down
DROP INDEX usage_daily_member;
DROP TRIGGER usage_daily_account_delete;
DROP TRIGGER usage_daily_account_update;
DROP TRIGGER usage_daily_account_insert;
DROP TABLE usage_daily_account;
