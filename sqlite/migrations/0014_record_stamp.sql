-- A record's stamp (callvault.SessionPage.Stamp): every write of the record
-- gives it a new one (callvault.NewStamp), so that a server can tell by one
-- row that a page it holds, a compressed response, is still what the
-- record would render. Rows stored before this migration have stamp 0,
-- which no write gives and which is never cached.
ALTER TABLE call_records ADD COLUMN stamp INTEGER NOT NULL DEFAULT 0;
