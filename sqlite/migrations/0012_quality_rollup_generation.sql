-- Call quality (issue 16): a tenant's rollup generation, one more each time
-- a day of its rollup is computed again. A reader that keeps answers from
-- the rollup in memory keys them by it: with no dirty day in a query's
-- period and the same generation, the answer is the same.
CREATE TABLE quality_rollup_generation (
	tenant TEXT    PRIMARY KEY,
	gen    INTEGER NOT NULL
) WITHOUT ROWID;
