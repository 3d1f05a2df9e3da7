-- +goose Up
-- Invitation emails are capped per organization and day; the cap counts the
-- organization's recent "member.invited" and "invitation.resent" events,
-- which this index finds without reading its other events of the day.
CREATE INDEX audit_events_account_action_time ON audit_events (account_id, action, created_at);

-- +goose Down
DROP INDEX audit_events_account_action_time;
