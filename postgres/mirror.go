package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/mirrorsql"
	"github.com/jackc/pgx/v5"
)

var _ callvault.MirrorStore = (*DB)(nil)

var _ callvault.MirrorListingStore = (*DB)(nil)

// EnqueueMirror queues record ids to fetch, whatever the store holds, in
// one statement.
func (db *DB) EnqueueMirror(ctx context.Context, tenant, source string, ids []string, due time.Time) error {
	return db.enqueueMirror(ctx, tenant, source, ids, make([]*int64, len(ids)), make([]*int64, len(ids)), due)
}

// EnqueueMirrorListed queues listed records to fetch unless the store
// holds them at the listed version when they are claimed, in one
// statement.
func (db *DB) EnqueueMirrorListed(ctx context.Context, tenant, source string, listed []callvault.MirrorListing, due time.Time) error {
	ids := make([]string, len(listed))
	versions, modified := make([]*int64, len(listed)), make([]*int64, len(listed))
	for i, l := range listed {
		v, m := l.Version, mirrorsql.Nanos(l.LastModified)
		ids[i], versions[i], modified[i] = l.RecordID, &v, &m
	}
	return db.enqueueMirror(ctx, tenant, source, ids, versions, modified, due)
}

// enqueueMirror queues items, or updates queued ones: an item keeps the
// later listing (none, NULL, wins: it is fetched whatever the store
// holds); an item not claimed keeps the earlier due, an item claimed keeps
// its lease and notes the enqueue's due in relisted. In an UPDATE's SET
// every column is the row's old value. An id given twice in one call would
// be an error (ON CONFLICT cannot update a row twice): the first is kept.
func (db *DB) enqueueMirror(ctx context.Context, tenant, source string, ids []string, versions, modified []*int64, due time.Time) (err error) {
	if len(ids) == 0 {
		return nil
	}
	defer wrap(&err, "postgres: enqueue %d mirror items", len(ids))
	_, err = db.pool.Exec(ctx, `INSERT INTO mirror_queue AS q (tenant, source, record_id, due, listed_version, listed_modified)
		SELECT DISTINCT ON (id) $1, $2, id, $4, v, m FROM unnest($3::TEXT[], $5::BIGINT[], $6::BIGINT[]) WITH ORDINALITY AS u(id, v, m, n) ORDER BY id, n
		ON CONFLICT (tenant, source, record_id) DO UPDATE SET
			due = CASE WHEN q.owner IS NULL THEN LEAST(q.due, EXCLUDED.due) ELSE q.due END,
			relisted = CASE WHEN q.owner IS NULL THEN NULL ELSE LEAST(q.relisted, EXCLUDED.due) END,
			listed_version = CASE
				WHEN q.listed_version IS NULL OR EXCLUDED.listed_version IS NULL THEN NULL
				WHEN (EXCLUDED.listed_version, EXCLUDED.listed_modified) > (q.listed_version, q.listed_modified) THEN EXCLUDED.listed_version
				ELSE q.listed_version END,
			listed_modified = CASE
				WHEN q.listed_version IS NULL OR EXCLUDED.listed_version IS NULL THEN NULL
				WHEN (EXCLUDED.listed_version, EXCLUDED.listed_modified) > (q.listed_version, q.listed_modified) THEN EXCLUDED.listed_modified
				ELSE q.listed_modified END`,
		tenant, source, ids, due.UnixNano(), versions, modified)
	return err
}

// ClaimMirror leases due items to owner; items another process holds are
// skipped, not waited for.
func (db *DB) ClaimMirror(ctx context.Context, tenant, source, owner string, now time.Time, lease time.Duration, limit int) (_ []callvault.MirrorItem, err error) {
	defer wrap(&err, "postgres: claim mirror items")
	rows, err := db.pool.Query(ctx, `UPDATE mirror_queue SET due = $1, owner = $2, relisted = NULL
		WHERE (tenant, source, record_id) IN (SELECT tenant, source, record_id FROM mirror_queue
			WHERE tenant = $3 AND source = $4 AND due <= $5 ORDER BY due LIMIT $6 FOR UPDATE SKIP LOCKED)
		RETURNING record_id, attempts, coalesce(last_error, ''), listed_version, listed_modified`,
		now.Add(lease).UnixNano(), owner, tenant, source, now.UnixNano(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []callvault.MirrorItem
	for rows.Next() {
		var it callvault.MirrorItem
		var attempts int64
		var version, modified *int64
		if err := rows.Scan(&it.RecordID, &attempts, &it.LastError, &version, &modified); err != nil {
			return nil, err
		}
		it.Attempts = int(attempts)
		if version != nil {
			it.Listed, it.Version = true, *version
			if modified != nil {
				it.LastModified = mirrorsql.Time(*modified)
			}
		}
		items = append(items, it)
	}
	return items, rows.Err()
}

// SettleMirror deletes the fetched items (but those queued again while
// claimed, which are due again) and reschedules the others.
func (db *DB) SettleMirror(ctx context.Context, tenant, source, owner string, settled []callvault.MirrorSettlement) (err error) {
	if len(settled) == 0 {
		return nil
	}
	defer wrap(&err, "postgres: settle %d mirror items", len(settled))
	b := &pgx.Batch{}
	for _, s := range settled {
		switch {
		case s.Done:
			// Queued again while claimed: due again, not removed.
			b.Queue(`DELETE FROM mirror_queue WHERE tenant = $1 AND source = $2 AND record_id = $3 AND owner = $4 AND relisted IS NULL`, tenant, source, s.RecordID, owner)
			b.Queue(`UPDATE mirror_queue SET due = relisted, owner = NULL, relisted = NULL WHERE tenant = $1 AND source = $2 AND record_id = $3 AND owner = $4`,
				tenant, source, s.RecordID, owner)
		case s.Error == "": // released, never tried
			b.Queue(`UPDATE mirror_queue SET due = $1, owner = NULL, relisted = NULL WHERE tenant = $2 AND source = $3 AND record_id = $4 AND owner = $5`,
				s.RetryAt.UnixNano(), tenant, source, s.RecordID, owner)
		default:
			b.Queue(`UPDATE mirror_queue SET due = $1, owner = NULL, relisted = NULL, attempts = attempts + 1, last_error = $2
				WHERE tenant = $3 AND source = $4 AND record_id = $5 AND owner = $6`,
				s.RetryAt.UnixNano(), s.Error, tenant, source, s.RecordID, owner)
		}
	}
	return db.inTx(ctx, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
}

// MirrorBacklog counts the waiting and the parked items.
func (db *DB) MirrorBacklog(ctx context.Context, tenant, source string) (queued, parked int64, err error) {
	defer wrap(&err, "postgres: mirror backlog")
	err = db.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE due < $1), count(*) FILTER (WHERE due >= $1)
		FROM mirror_queue WHERE tenant = $2 AND source = $3`, callvault.Parked.UnixNano(), tenant, source).Scan(&queued, &parked)
	return queued, parked, err
}

// UnparkMirror makes the parked items due again.
func (db *DB) UnparkMirror(ctx context.Context, tenant, source string, now time.Time) (_ int64, err error) {
	defer wrap(&err, "postgres: unpark mirror items")
	tag, err := db.pool.Exec(ctx, `UPDATE mirror_queue SET due = $1, attempts = 0 WHERE tenant = $2 AND source = $3 AND due >= $4`,
		now.UnixNano(), tenant, source, callvault.Parked.UnixNano())
	return tag.RowsAffected(), err
}

// MirrorState returns a named piece of progress.
func (db *DB) MirrorState(ctx context.Context, tenant, source, name string) (_ []byte, err error) {
	defer wrap(&err, "postgres: mirror state %s", name)
	var v []byte
	err = db.pool.QueryRow(ctx, `SELECT value FROM mirror_state WHERE tenant = $1 AND source = $2 AND name = $3`, tenant, source, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

// SetMirrorState stores a named piece of progress.
func (db *DB) SetMirrorState(ctx context.Context, tenant, source, name string, value []byte) (err error) {
	defer wrap(&err, "postgres: set mirror state %s", name)
	_, err = db.pool.Exec(ctx, `INSERT INTO mirror_state (tenant, source, name, value) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant, source, name) DO UPDATE SET value = EXCLUDED.value`, tenant, source, name, value)
	return err
}
