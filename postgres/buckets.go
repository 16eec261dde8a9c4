package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/callvault/callvault"
	"github.com/jackc/pgx/v5"
)

var _ callvault.BucketStore = (*DB)(nil)

const (
	// sqlInsertKeys and sqlLockKeys create the rows of the keys a request
	// is counted under and lock them, in key order so that two requests
	// cannot deadlock.
	sqlInsertKeys = `INSERT INTO throttle_keys (key, n, expires) SELECT k, 0, 0 FROM unnest($1::TEXT[]) AS k ORDER BY k ON CONFLICT (key) DO NOTHING`
	sqlLockKeys   = `SELECT key FROM throttle_keys WHERE key = ANY($1::TEXT[]) ORDER BY key FOR UPDATE`
	// sqlForget deletes the keys' admissions that left their window at $3
	// and takes them off the keys' counts. $1 keys, $2 windows.
	sqlForget = `WITH gone AS (
			DELETE FROM throttle_admissions a USING unnest($1::TEXT[], $2::BIGINT[]) AS b(key, win)
			WHERE a.key = b.key AND a.at <= $3::BIGINT - b.win RETURNING a.key)
		UPDATE throttle_keys k SET n = k.n - g.c FROM (SELECT key, count(*) AS c FROM gone GROUP BY key) AS g WHERE k.key = g.key`
	// sqlFull returns, for each bucket that holds its limit, its index and
	// the admission whose leaving the window makes room: the limit-th
	// newest, found from the oldest end (n - limit is 0 but when a limit
	// was lowered). $1 keys, $2 limits, $3 windows.
	sqlFull = `SELECT b.i, f.at FROM unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[]) WITH ORDINALITY AS b(key, lim, win, i)
		JOIN throttle_keys k ON k.key = b.key AND k.n >= b.lim
		CROSS JOIN LATERAL (SELECT a.at FROM throttle_admissions a WHERE a.key = b.key
			ORDER BY a.at OFFSET k.n - b.lim LIMIT 1) AS f`
	sqlAdmit = `INSERT INTO throttle_admissions (key, at) SELECT k, $2::BIGINT FROM unnest($1::TEXT[]) AS k`
	// sqlCount counts an admission in its keys. $1 keys, $2 windows, $3 now.
	sqlCount = `UPDATE throttle_keys k SET n = k.n + 1, expires = greatest(k.expires, $3::BIGINT + b.win)
		FROM unnest($1::TEXT[], $2::BIGINT[]) AS b(key, win) WHERE k.key = b.key`
	// sqlSweep* delete idle keys and their rows, an hour after their last
	// admission left its window (a request that found its key row gone
	// between creating and locking it tries again).
	sqlSweepAdmissions = `DELETE FROM throttle_admissions WHERE key IN (SELECT key FROM throttle_keys WHERE expires < $1)`
	sqlSweepKeys       = `DELETE FROM throttle_keys WHERE expires < $1`
)

// TakeBuckets implements callvault.BucketStore in one transaction of two
// round trips (and BEGIN and COMMIT): the keys' rows are created and
// locked, their expired admissions deleted and the full buckets found;
// then an admitted request is written and counted. Every server on the
// database counts in the same buckets. The rows of a key are locked by
// every request counted under it: the per-app and per-tenant buckets
// serialise an app's requests across the servers.
func (db *DB) TakeBuckets(ctx context.Context, now time.Time, bs []callvault.Bucket) (refused int, retryAt time.Time, err error) {
	defer wrap(&err, "postgres: take throttling buckets")
	n := len(bs)
	keys, limits, windows := make([]string, n), make([]int64, n), make([]int64, n)
	for i, b := range bs {
		keys[i], limits[i], windows[i] = b.Key, int64(b.Limit), int64(b.Window)
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	t := now.UnixNano()
	for attempt := 0; ; attempt++ {
		refused, retryAt = -1, time.Time{}
		locked := 0
		err = db.inTx(ctx, func(tx pgx.Tx) error {
			refused, retryAt = -1, time.Time{}
			var b pgx.Batch
			b.Queue(sqlInsertKeys, sorted)
			b.Queue(sqlLockKeys, sorted)
			b.Queue(sqlForget, keys, windows, t)
			b.Queue(sqlFull, keys, limits, windows)
			res := tx.SendBatch(ctx, &b)
			if _, err := res.Exec(); err != nil {
				res.Close()
				return err
			}
			rows, err := res.Query()
			if err != nil {
				res.Close()
				return err
			}
			for locked = 0; rows.Next(); locked++ {
			}
			if err := rows.Err(); err != nil {
				res.Close()
				return err
			}
			if _, err := res.Exec(); err != nil {
				res.Close()
				return err
			}
			if rows, err = res.Query(); err != nil {
				res.Close()
				return err
			}
			for rows.Next() {
				var i, at int64
				if err := rows.Scan(&i, &at); err != nil {
					rows.Close()
					res.Close()
					return err
				}
				if until := time.Unix(0, at).Add(bs[i-1].Window); refused < 0 || until.After(retryAt) {
					refused, retryAt = int(i-1), until
				}
			}
			if err := rows.Err(); err != nil {
				res.Close()
				return err
			}
			if err := res.Close(); err != nil {
				return err
			}
			if refused >= 0 || locked < len(sorted) {
				return nil
			}
			var w pgx.Batch
			w.Queue(sqlAdmit, keys, t)
			w.Queue(sqlCount, keys, windows, t)
			if rand.N(1000) == 0 {
				w.Queue(sqlSweepAdmissions, t-int64(time.Hour))
				w.Queue(sqlSweepKeys, t-int64(time.Hour))
			}
			return tx.SendBatch(ctx, &w).Close()
		})
		if err != nil || locked == len(sorted) || refused >= 0 {
			return refused, retryAt, err
		}
		if attempt == 3 {
			return -1, time.Time{}, fmt.Errorf("the rows of %d keys vanished while being locked, 4 times", len(sorted)-locked)
		}
	}
}
