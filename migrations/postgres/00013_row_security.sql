-- +goose Up
-- Wall 2 between accounts: row-level security on every table with an
-- account_id column, enabled and forced (the owner is held to it too), with
-- policies that compare account_id with the setting switchboard.account_id
-- (and the user, switchboard.user_id, where a user's own rows or private
-- indexes are concerned). Requests act as the role switchboard_app, which
-- owns nothing and cannot bypass it; each transaction sets the two settings
-- for itself. A statement with no account set sees and changes no rows.
--
-- A new account-owned table gets the same by calling, in its migration:
--     SELECT switchboard_protect('the_table');

-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'switchboard_app') THEN
        CREATE ROLE switchboard_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
    -- The owner, who connects, acts as it (SET ROLE).
    EXECUTE format('GRANT switchboard_app TO %I', current_user);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO switchboard_app', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO switchboard_app', current_schema());
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO switchboard_app', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO switchboard_app', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO switchboard_app', current_schema());
END
$$;
-- +goose StatementEnd

-- The account and user the transaction acts for; NULL when unset, which
-- matches no row.
CREATE FUNCTION switchboard_account() RETURNS BIGINT LANGUAGE sql STABLE
AS $$ SELECT NULLIF(current_setting('switchboard.account_id', true), '')::BIGINT $$;
CREATE FUNCTION switchboard_user() RETURNS BIGINT LANGUAGE sql STABLE
AS $$ SELECT NULLIF(current_setting('switchboard.user_id', true), '')::BIGINT $$;

-- switchboard_protect puts a table under row security: switchboard_app sees
-- the rows matching rule (by default, the transaction's account's), and the
-- owner, who runs migrations and the system door, sees every row. Rules read
-- the settings through scalar subqueries, which PostgreSQL evaluates once
-- per statement rather than once per row.
-- +goose StatementBegin
CREATE FUNCTION switchboard_protect(tbl REGCLASS, rule TEXT DEFAULT 'account_id = (SELECT switchboard_account())') RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
    EXECUTE format('CREATE POLICY tenant ON %s TO switchboard_app USING (%s) WITH CHECK (%s)', tbl, rule, rule);
    EXECUTE format('CREATE POLICY system_door ON %s TO %I USING (true) WITH CHECK (true)', tbl, current_user);
END
$$;
-- +goose StatementEnd

-- A user acting in no account sees their own memberships and linked
-- identities, in every account (the account switcher, the profile).
SELECT switchboard_protect('memberships',
    'account_id = (SELECT switchboard_account()) OR ((SELECT switchboard_account()) IS NULL AND user_id = (SELECT switchboard_user()))');
SELECT switchboard_protect('sso_links',
    'account_id = (SELECT switchboard_account()) OR ((SELECT switchboard_account()) IS NULL AND user_id = (SELECT switchboard_user()))');
-- A private index, and its videos, are its creator's alone.
SELECT switchboard_protect('indexes', 'account_id = (SELECT switchboard_account()) AND (visibility <> ''private'' OR created_by_id = (SELECT switchboard_user()))');
SELECT switchboard_protect('videos', 'account_id = (SELECT switchboard_account()) AND EXISTS (SELECT 1 FROM indexes i WHERE i.id = videos.index_id)');
-- Every other table with an account_id column: the account's rows.
-- +goose StatementBegin
DO $$
DECLARE t TEXT;
BEGIN
    FOR t IN SELECT c.table_name FROM information_schema.columns c
        WHERE c.table_schema = current_schema() AND c.column_name = 'account_id'
          AND c.table_name NOT IN ('memberships', 'sso_links', 'indexes', 'videos')
        ORDER BY 1
    LOOP
        PERFORM switchboard_protect(format('%I', t)::REGCLASS);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE t TEXT;
BEGIN
    FOR t IN SELECT c.table_name FROM information_schema.columns c
        WHERE c.table_schema = current_schema() AND c.column_name = 'account_id' ORDER BY 1
    LOOP
        EXECUTE format('DROP POLICY IF EXISTS tenant ON %I', t);
        EXECUTE format('DROP POLICY IF EXISTS system_door ON %I', t);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;
-- +goose StatementEnd
DROP FUNCTION switchboard_protect(REGCLASS, TEXT);
DROP FUNCTION switchboard_user();
DROP FUNCTION switchboard_account();
