-- Each session and segment may keep, beside its body, the scripts that
-- render it as Graph's default response of each version (odata.CompileAll,
-- written by the importer): a few copies of the body and of the codec's
-- constants, so that a page without $select or other Prefer options is
-- copied rather than merged with the schema. NULL, as on every row stored
-- before this migration, is read the long way; so is a script compiled for
-- another schema. DB.CompileScripts (callvault migrate --scripts) fills or
-- refreshes the column of the rows already stored.
--
-- A nullable column without a default is a change of the catalog alone:
-- PostgreSQL rewrites no row, so the migration takes no longer on a
-- database of millions of sessions than on an empty one.
ALTER TABLE sessions ADD COLUMN render BYTEA;
ALTER TABLE segments ADD COLUMN render BYTEA;
