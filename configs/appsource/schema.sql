-- herald's apps in PostgreSQL (apps_database in configs/default.yaml).
--
-- herald applies this file at start unless the table's comment (the last statement) already
-- names this version. It is idempotent, so it can also be applied by hand by a role that may
-- create objects, leaving herald a role that only reads:
--     psql "$ADMIN_DSN" -f schema.sql
--     GRANT SELECT ON herald_apps TO herald;
-- The table is created in the first schema of the search_path (search_path=SCHEMA in the DSN).
--
-- One row is one app. Credentials and `enabled` have columns; every other setting of an app goes
-- in `options`, a JSON object with the keys of an app in configs/default.yaml (durations as
-- strings such as "10m"); a key left out has its default from there. For example:
--     INSERT INTO herald_apps (id, key, secret, options) VALUES ('42', 'key-42', 'SECRET',
--       '{"client_events": true, "limits": {"max_connections": 1000},
--         "webhooks": [{"url": "https://example.com/pusher", "event_types": ["channel_occupied"]}]}');
--     UPDATE herald_apps SET secret = 'NEW-SECRET' WHERE id = '42';  -- rotation: the old one stops at once
--     UPDATE herald_apps SET enabled = false WHERE id = '42';        -- its sockets are closed with 4003
--     DELETE FROM herald_apps WHERE id = '42';                       -- its sockets are closed with 4001
-- A row herald cannot use (an unknown option, a bad value) is left out with a warning naming it.
--
-- Every change notifies channel herald_apps with the app's id (an empty payload after a
-- TRUNCATE: read everything); each node LISTENs and reads the rows named.

BEGIN;

-- Two nodes starting at once take turns.
SELECT pg_advisory_xact_lock(hashtext('herald_apps schema'));

CREATE TABLE IF NOT EXISTS herald_apps (
    -- Bounded: an id and a key travel in URLs and in NOTIFY payloads (at most 8000 bytes).
    id      text    PRIMARY KEY CHECK (id <> '' AND octet_length(id) <= 200),
    key     text    NOT NULL UNIQUE CHECK (key <> '' AND octet_length(key) <= 200),
    secret  text    NOT NULL CHECK (secret <> ''),
    enabled boolean NOT NULL DEFAULT true,
    options jsonb   NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object')
);

CREATE OR REPLACE FUNCTION herald_apps_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('herald_apps', '');
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('herald_apps', OLD.id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('herald_apps', NEW.id);  -- the same id twice is sent once
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS herald_apps_notify ON herald_apps;
CREATE TRIGGER herald_apps_notify AFTER INSERT OR UPDATE OR DELETE ON herald_apps
    FOR EACH ROW EXECUTE FUNCTION herald_apps_notify();
DROP TRIGGER IF EXISTS herald_apps_truncate ON herald_apps;
CREATE TRIGGER herald_apps_truncate AFTER TRUNCATE ON herald_apps
    FOR EACH STATEMENT EXECUTE FUNCTION herald_apps_notify();

COMMENT ON TABLE herald_apps IS 'herald apps, schema 1';

COMMIT;
