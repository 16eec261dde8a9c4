-- Call quality (issue 16): the rollup's text columns compare byte by byte,
-- in the "C" collation, as the other tables' keys do. qualitysql adds a day's rows
-- up in the order of its key, comparing values as Go does, byte by byte:
-- under a database's linguistic collation (en_US.UTF-8 ignores the dots of
-- a subnet at first) the key's order would be another one, and each row a
-- run of its own. The rollup is derived data; the index is built again.
ALTER TABLE quality_rollup
	ALTER COLUMN tenant TYPE TEXT COLLATE "C",
	ALTER COLUMN dim TYPE TEXT COLLATE "C",
	ALTER COLUMN media TYPE TEXT COLLATE "C",
	ALTER COLUMN value TYPE TEXT COLLATE "C";
