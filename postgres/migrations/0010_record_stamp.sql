-- A record's stamp (callvault.SessionPage.Stamp), the PostgreSQL store's
-- counterpart of the SQLite store's migration 0014: every write of the
-- record gives it a new one (callvault.NewStamp), so that a server can tell
-- by one row that a page it holds, a compressed response, is still what the
-- record would render. Rows stored before this migration have stamp 0,
-- which no write gives and which is never cached. A constant default adds
-- the column without rewriting the table.
ALTER TABLE call_records ADD COLUMN IF NOT EXISTS stamp BIGINT NOT NULL DEFAULT 0;
