-- +goose Up
-- SCIM groups: the IdP's groups of provisioned users. The organization maps
-- one of them, by display name, to its administrators.
CREATE TABLE scim_groups (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id        TEXT NOT NULL UNIQUE,
    account_id       BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL,
    external_id      TEXT NOT NULL DEFAULT '',
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    UNIQUE (account_id, display_name_key)
);

CREATE TABLE scim_group_members (
    account_id   BIGINT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    group_id     BIGINT NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    scim_user_id BIGINT NOT NULL REFERENCES scim_users (id) ON DELETE CASCADE,
    PRIMARY KEY (account_id, group_id, scim_user_id)
);
CREATE INDEX scim_group_members_user ON scim_group_members (account_id, scim_user_id);

-- The display name of the group whose members are administrators; '' maps
-- nobody.
CREATE TABLE scim_settings (
    account_id  BIGINT NOT NULL PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    admin_group TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE scim_settings;
DROP TABLE scim_group_members;
DROP TABLE scim_groups;
