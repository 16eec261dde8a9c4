-- Each session and segment may keep, beside its body, the scripts that
-- render it as Graph's default response of each version (odata.CompileAll):
-- a few copies of the body and of the codec's constants, so that a page
-- without $select or other Prefer options is copied rather than merged
-- with the schema. NULL, as on every row stored before this migration, is
-- read the long way; so is a script compiled for another schema.
ALTER TABLE sessions ADD COLUMN render BLOB;
ALTER TABLE segments ADD COLUMN render BLOB;
