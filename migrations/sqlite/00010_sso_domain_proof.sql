-- +goose Up
-- Any number of organizations may list a domain; one may prove it. The
-- proof is what lets an organization's IdP create users or sign in people
-- it did not invite, so at most one organization holds it.
CREATE TABLE sso_domains_new (
    account_id         BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    domain             TEXT NOT NULL,
    verification_token TEXT NOT NULL DEFAULT '',
    verified_at        DATETIME,
    PRIMARY KEY (account_id, domain)
);
INSERT INTO sso_domains_new (account_id, domain, verification_token, verified_at)
SELECT account_id, domain, verification_token, verified_at FROM sso_domains;
DROP TABLE sso_domains;
ALTER TABLE sso_domains_new RENAME TO sso_domains;
CREATE UNIQUE INDEX sso_domains_proved ON sso_domains (domain) WHERE verified_at IS NOT NULL;

-- Identities at an organization's IdP that their users linked themselves,
-- signed in with their password: the IdP may sign them in by that identity
-- whatever their address's domain.
CREATE TABLE sso_links (
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (account_id, subject)
);
CREATE UNIQUE INDEX sso_links_user ON sso_links (account_id, user_id);
CREATE INDEX sso_links_by_user ON sso_links (user_id);

-- A sign-in can also be the one that links an identity.
CREATE TABLE sso_requests_new (
    id              TEXT PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL CHECK (purpose IN ('login', 'test', 'link')),
    user_id         BIGINT,
    result          TEXT NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    expires_at      DATETIME NOT NULL,
    consumed_at     DATETIME,
    browser_hash    TEXT NOT NULL DEFAULT '',
    outcome_user_id BIGINT,
    taken_at        DATETIME
);
INSERT INTO sso_requests_new SELECT id, account_id, purpose, user_id, result, created_at, expires_at, consumed_at,
    browser_hash, outcome_user_id, taken_at FROM sso_requests;
DROP TABLE sso_requests;
ALTER TABLE sso_requests_new RENAME TO sso_requests;

-- Users an IdP created in a domain its organization never proved lose that
-- origin (it let the IdP sign them in again after their owner took the
-- account over); each organization concerned is told in its audit log.
INSERT INTO audit_events (account_id, actor_name, action, target, details, created_at)
SELECT u.sso_origin_account_id, 'Switchboard', 'sso.link_dropped', u.email,
       'created by the identity provider in a domain the organization had not proved; the IdP can no longer sign this person in',
       strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM users u
JOIN accounts a ON a.id = u.sso_origin_account_id
WHERE NOT EXISTS (
    SELECT 1 FROM sso_domains d
    WHERE d.account_id = u.sso_origin_account_id AND d.verified_at IS NOT NULL
      AND d.domain = substr(u.email, instr(u.email, '@') + 1));
ALTER TABLE users DROP COLUMN sso_origin_account_id;

-- +goose Down
ALTER TABLE users ADD COLUMN sso_origin_account_id BIGINT;
DELETE FROM sso_requests WHERE purpose = 'link';
CREATE TABLE sso_requests_old (
    id              TEXT PRIMARY KEY,
    account_id      BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose         TEXT NOT NULL CHECK (purpose IN ('login', 'test')),
    user_id         BIGINT,
    result          TEXT NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL,
    expires_at      DATETIME NOT NULL,
    consumed_at     DATETIME,
    browser_hash    TEXT NOT NULL DEFAULT '',
    outcome_user_id BIGINT,
    taken_at        DATETIME
);
INSERT INTO sso_requests_old SELECT * FROM sso_requests;
DROP TABLE sso_requests;
ALTER TABLE sso_requests_old RENAME TO sso_requests;
DROP TABLE sso_links;
CREATE TABLE sso_domains_old (
    domain             TEXT PRIMARY KEY,
    account_id         BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    verification_token TEXT NOT NULL DEFAULT '',
    verified_at        DATETIME
);
INSERT OR IGNORE INTO sso_domains_old (domain, account_id, verification_token, verified_at)
SELECT domain, account_id, verification_token, verified_at FROM sso_domains ORDER BY verified_at IS NULL, account_id;
DROP TABLE sso_domains;
ALTER TABLE sso_domains_old RENAME TO sso_domains;
CREATE INDEX sso_domains_account ON sso_domains (account_id);
