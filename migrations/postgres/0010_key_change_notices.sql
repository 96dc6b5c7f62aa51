-- Servers keep API key lookups in memory (see src/store/key_cache.rs). Every
-- transaction that changes what a lookup returns tells them, when it
-- commits, whoever runs it: a node, `certd` on the command line, a restore
-- or hand-written SQL. A new key or user changes no earlier lookup (unknown
-- keys are never kept), and recording a key's last use changes nothing a
-- lookup decides.
CREATE FUNCTION certd_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('certd_credentials', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER users_changed
    AFTER UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION certd_credentials_changed();

CREATE TRIGGER api_keys_changed
    AFTER UPDATE OF user_id, key_hash, view_only, status OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION certd_credentials_changed();
