-- +goose Up
-- Every plan an account had and from when: bills price each day by the plan
-- in force that day.
CREATE TABLE plan_changes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    plan         TEXT NOT NULL,
    effective_at DATETIME NOT NULL,
    user_id      BIGINT
);
CREATE INDEX plan_changes_account ON plan_changes (account_id, effective_at);

CREATE TABLE billing_contacts (
    account_id     BIGINT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    email          TEXT NOT NULL,
    company        TEXT NOT NULL DEFAULT '',
    address        TEXT NOT NULL,
    vat_id         TEXT NOT NULL DEFAULT '',
    payment_method TEXT NOT NULL DEFAULT 'invoice',
    updated_at     DATETIME NOT NULL
);

CREATE TABLE enterprise_requests (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id    BIGINT,
    seats      BIGINT NOT NULL DEFAULT 0,
    message    TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL
);
CREATE INDEX enterprise_requests_account ON enterprise_requests (account_id, created_at);

-- Closed monthly bills. One per account and month, never changed once made.
CREATE TABLE invoices (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id   TEXT NOT NULL UNIQUE,
    account_id  BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    number      TEXT NOT NULL UNIQUE,
    period      TEXT NOT NULL, -- YYYY-MM, UTC
    currency    TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'issued',
    bill_to     TEXT NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL
);
CREATE UNIQUE INDEX invoices_account_period ON invoices (account_id, period);

CREATE TABLE invoice_lines (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id        BIGINT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    account_id        BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    position          BIGINT NOT NULL,
    user_id           BIGINT,
    member            TEXT NOT NULL DEFAULT '',
    plan              TEXT NOT NULL,
    metric            TEXT NOT NULL,
    category          TEXT NOT NULL DEFAULT '',
    description       TEXT NOT NULL,
    quantity          BIGINT NOT NULL,
    unit              TEXT NOT NULL,
    unit_price_micros BIGINT NOT NULL,
    amount_minor      BIGINT NOT NULL
);
CREATE INDEX invoice_lines_invoice ON invoice_lines (account_id, invoice_id, position);

-- +goose Down
DROP TABLE invoice_lines;
DROP TABLE invoices;
DROP TABLE enterprise_requests;
DROP TABLE billing_contacts;
DROP TABLE plan_changes;
