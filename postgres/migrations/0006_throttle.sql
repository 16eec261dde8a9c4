-- Throttling buckets shared by the servers on this database (serve
-- --throttle, callvault.BucketStore): a row per bucket key, locked while a
-- request is counted, and the admissions of each key in its last window.
-- n counts the key's admissions in its window (expired ones are deleted
-- first), so that only a full bucket reads its admissions. expires is when
-- the key's newest admission leaves its window: idle keys are deleted
-- after it (by a scan, 1 request in 1,000: an index on expires would make
-- every count a non-HOT update).
--
-- UNLOGGED: counters need no durability (a crash forgets the last window's
-- admissions, which is harmless), and a transaction that writes no WAL does
-- not wait for a disk flush at commit (docs/throttling.md has the cost).
CREATE UNLOGGED TABLE throttle_keys (
	key     TEXT COLLATE "C" PRIMARY KEY,
	n       BIGINT NOT NULL DEFAULT 0,
	expires BIGINT NOT NULL
);

CREATE UNLOGGED TABLE throttle_admissions (
	key TEXT COLLATE "C" NOT NULL,
	at  BIGINT NOT NULL
);
CREATE INDEX throttle_admissions_key_at ON throttle_admissions (key, at);
