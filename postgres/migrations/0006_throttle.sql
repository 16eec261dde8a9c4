-- Throttling buckets shared by the servers on this database (serve
-- --throttle, callvault.BucketStore): a row per bucket key, locked while a
-- request is counted, and the admissions of each key in its last window.
-- expires is when the key's newest admission leaves its window: idle keys
-- are deleted after it.
CREATE TABLE throttle_keys (
	key     TEXT COLLATE "C" PRIMARY KEY,
	expires BIGINT NOT NULL
);
CREATE INDEX throttle_keys_expires ON throttle_keys (expires);

CREATE TABLE throttle_admissions (
	key TEXT COLLATE "C" NOT NULL,
	at  BIGINT NOT NULL
);
CREATE INDEX throttle_admissions_key_at ON throttle_admissions (key, at);
