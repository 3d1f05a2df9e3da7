-- +goose Up
-- Any number of organizations may list a domain; one may prove it. The
-- proof is what lets an organization's IdP create users or sign in people
-- it did not invite, so at most one organization holds it.
ALTER TABLE sso_domains DROP CONSTRAINT sso_domains_pkey;
ALTER TABLE sso_domains ADD PRIMARY KEY (account_id, domain);
CREATE UNIQUE INDEX sso_domains_proved ON sso_domains (domain) WHERE verified_at IS NOT NULL;
DROP INDEX sso_domains_account;

-- Identities at an organization's IdP that their users linked themselves,
-- signed in with their password: the IdP may sign them in by that identity
-- whatever their address's domain.
CREATE TABLE sso_links (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (account_id, subject)
);
CREATE UNIQUE INDEX sso_links_user ON sso_links (account_id, user_id);
CREATE INDEX sso_links_by_user ON sso_links (user_id);

-- A sign-in can also be the one that links an identity.
ALTER TABLE sso_requests DROP CONSTRAINT sso_requests_purpose_check;
ALTER TABLE sso_requests ADD CONSTRAINT sso_requests_purpose_check CHECK (purpose IN ('login', 'test', 'link'));

-- Users an IdP created in a domain its organization never proved lose that
-- origin (it let the IdP sign them in again after their owner took the
-- account over); each organization concerned is told in its audit log.
INSERT INTO audit_events (account_id, actor_name, action, target, details, created_at)
SELECT u.sso_origin_account_id, 'Switchboard', 'sso.link_dropped', u.email,
       'created by the identity provider in a domain the organization had not proved; the IdP can no longer sign this person in',
       now()
FROM users u
JOIN accounts a ON a.id = u.sso_origin_account_id
WHERE NOT EXISTS (
    SELECT 1 FROM sso_domains d
    WHERE d.account_id = u.sso_origin_account_id AND d.verified_at IS NOT NULL
      AND d.domain = split_part(u.email, '@', 2));
ALTER TABLE users DROP COLUMN sso_origin_account_id;

-- +goose Down
ALTER TABLE users ADD COLUMN sso_origin_account_id BIGINT;
DELETE FROM sso_requests WHERE purpose = 'link';
ALTER TABLE sso_requests DROP CONSTRAINT sso_requests_purpose_check;
ALTER TABLE sso_requests ADD CONSTRAINT sso_requests_purpose_check CHECK (purpose IN ('login', 'test'));
DROP TABLE sso_links;
DELETE FROM sso_domains d WHERE d.verified_at IS NULL AND EXISTS (
    SELECT 1 FROM sso_domains o WHERE o.domain = d.domain AND o.account_id < d.account_id);
DROP INDEX sso_domains_proved;
ALTER TABLE sso_domains DROP CONSTRAINT sso_domains_pkey;
ALTER TABLE sso_domains ADD PRIMARY KEY (domain);
CREATE INDEX sso_domains_account ON sso_domains (account_id);
