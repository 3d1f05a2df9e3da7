-- +goose Up
-- Whether a user has a second factor (a confirmed authenticator app or a
-- passkey) is kept on the user's row, so that a list of members reads it as
-- a column rather than probing two tables for every member. Triggers keep
-- it in the transactions that enroll, confirm and remove factors, whatever
-- makes them.
ALTER TABLE users ADD COLUMN second_factor BOOLEAN NOT NULL DEFAULT 0;

UPDATE users SET second_factor = 1
WHERE EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = users.id AND tf.enabled_at IS NOT NULL)
   OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = users.id);

-- +goose StatementBegin
CREATE TRIGGER totp_factors_second_factor_insert AFTER INSERT ON totp_factors BEGIN
    UPDATE users SET second_factor = (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = NEW.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = NEW.user_id))
        WHERE id = NEW.user_id AND second_factor IS NOT (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = NEW.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = NEW.user_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER totp_factors_second_factor_update AFTER UPDATE ON totp_factors BEGIN
    UPDATE users SET second_factor = (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = OLD.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = OLD.user_id))
        WHERE id = OLD.user_id AND second_factor IS NOT (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = OLD.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = OLD.user_id));
    UPDATE users SET second_factor = (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = NEW.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = NEW.user_id))
        WHERE id = NEW.user_id AND second_factor IS NOT (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = NEW.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = NEW.user_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER totp_factors_second_factor_delete AFTER DELETE ON totp_factors BEGIN
    UPDATE users SET second_factor = (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = OLD.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = OLD.user_id))
        WHERE id = OLD.user_id AND second_factor IS NOT (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = OLD.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = OLD.user_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER passkeys_second_factor_insert AFTER INSERT ON passkeys BEGIN
    UPDATE users SET second_factor = (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = NEW.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = NEW.user_id))
        WHERE id = NEW.user_id AND second_factor IS NOT (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = NEW.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = NEW.user_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER passkeys_second_factor_update AFTER UPDATE ON passkeys BEGIN
    UPDATE users SET second_factor = (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = OLD.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = OLD.user_id))
        WHERE id = OLD.user_id AND second_factor IS NOT (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = OLD.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = OLD.user_id));
    UPDATE users SET second_factor = (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = NEW.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = NEW.user_id))
        WHERE id = NEW.user_id AND second_factor IS NOT (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = NEW.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = NEW.user_id));
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER passkeys_second_factor_delete AFTER DELETE ON passkeys BEGIN
    UPDATE users SET second_factor = (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = OLD.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = OLD.user_id))
        WHERE id = OLD.user_id AND second_factor IS NOT (EXISTS (SELECT 1 FROM totp_factors tf WHERE tf.user_id = OLD.user_id AND tf.enabled_at IS NOT NULL) OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = OLD.user_id));
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER passkeys_second_factor_delete;
DROP TRIGGER passkeys_second_factor_update;
DROP TRIGGER passkeys_second_factor_insert;
DROP TRIGGER totp_factors_second_factor_delete;
DROP TRIGGER totp_factors_second_factor_update;
DROP TRIGGER totp_factors_second_factor_insert;
ALTER TABLE users DROP COLUMN second_factor;
