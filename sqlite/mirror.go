package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/mirrorsql"
)

var _ callvault.MirrorStore = (*DB)(nil)

var _ callvault.MirrorListingStore = (*DB)(nil)

// enqueueMirrorSQL queues an item, or updates a queued one: it keeps the
// later listing (none, NULL, wins: it is fetched whatever the store
// holds); an item not claimed keeps the earlier due, an item claimed keeps
// its lease and notes the enqueue's due in relisted. In an UPDATE's SET
// every column is the row's old value.
const enqueueMirrorSQL = `INSERT INTO mirror_queue (tenant, source, record_id, due, listed_version, listed_modified) VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (tenant, source, record_id) DO UPDATE SET
		due = CASE WHEN owner IS NULL THEN min(due, excluded.due) ELSE due END,
		relisted = CASE WHEN owner IS NULL THEN NULL ELSE min(coalesce(relisted, excluded.due), excluded.due) END,
		listed_version = CASE
			WHEN listed_version IS NULL OR excluded.listed_version IS NULL THEN NULL
			WHEN (excluded.listed_version, excluded.listed_modified) > (listed_version, listed_modified) THEN excluded.listed_version
			ELSE listed_version END,
		listed_modified = CASE
			WHEN listed_version IS NULL OR excluded.listed_version IS NULL THEN NULL
			WHEN (excluded.listed_version, excluded.listed_modified) > (listed_version, listed_modified) THEN excluded.listed_modified
			ELSE listed_modified END`

// EnqueueMirror queues record ids to fetch, whatever the store holds.
func (db *DB) EnqueueMirror(ctx context.Context, tenant, source string, ids []string, due time.Time) (err error) {
	listed := make([]callvault.MirrorListing, len(ids))
	for i, id := range ids {
		listed[i].RecordID = id
	}
	return db.enqueueMirror(ctx, tenant, source, listed, false, due)
}

// EnqueueMirrorListed queues listed records to fetch unless the store
// holds them at the listed version when they are claimed.
func (db *DB) EnqueueMirrorListed(ctx context.Context, tenant, source string, listed []callvault.MirrorListing, due time.Time) error {
	return db.enqueueMirror(ctx, tenant, source, listed, true, due)
}

func (db *DB) enqueueMirror(ctx context.Context, tenant, source string, listed []callvault.MirrorListing, versioned bool, due time.Time) (err error) {
	if len(listed) == 0 {
		return nil
	}
	defer wrap(&err, "sqlite: enqueue %d mirror items", len(listed))
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, enqueueMirrorSQL)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, l := range listed {
		var version, modified any // NULL: not listed
		if versioned {
			version, modified = l.Version, mirrorsql.Nanos(l.LastModified)
		}
		if _, err := stmt.ExecContext(ctx, tenant, source, l.RecordID, due.UnixNano(), version, modified); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ClaimMirror leases due items to owner.
func (db *DB) ClaimMirror(ctx context.Context, tenant, source, owner string, now time.Time, lease time.Duration, limit int) (_ []callvault.MirrorItem, err error) {
	defer wrap(&err, "sqlite: claim mirror items")
	rows, err := db.write.QueryContext(ctx, `UPDATE mirror_queue SET due = ?, owner = ?, relisted = NULL
		WHERE rowid IN (SELECT rowid FROM mirror_queue WHERE tenant = ? AND source = ? AND due <= ? ORDER BY due LIMIT ?)
		RETURNING record_id, attempts, coalesce(last_error, ''), listed_version, listed_modified`,
		now.Add(lease).UnixNano(), owner, tenant, source, now.UnixNano(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []callvault.MirrorItem
	for rows.Next() {
		var it callvault.MirrorItem
		var version, modified sql.NullInt64
		if err := rows.Scan(&it.RecordID, &it.Attempts, &it.LastError, &version, &modified); err != nil {
			return nil, err
		}
		if version.Valid {
			it.Listed, it.Version, it.LastModified = true, version.Int64, mirrorsql.Time(modified.Int64)
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
	defer wrap(&err, "sqlite: settle %d mirror items", len(settled))
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, s := range settled {
		switch {
		case s.Done:
			// Queued again while claimed: due again, not removed.
			_, err = tx.ExecContext(ctx, `DELETE FROM mirror_queue WHERE tenant = ? AND source = ? AND record_id = ? AND owner = ? AND relisted IS NULL`,
				tenant, source, s.RecordID, owner)
			if err == nil {
				_, err = tx.ExecContext(ctx, `UPDATE mirror_queue SET due = relisted, owner = NULL, relisted = NULL WHERE tenant = ? AND source = ? AND record_id = ? AND owner = ?`,
					tenant, source, s.RecordID, owner)
			}
		case s.Error == "": // released, never tried
			_, err = tx.ExecContext(ctx, `UPDATE mirror_queue SET due = ?, owner = NULL, relisted = NULL WHERE tenant = ? AND source = ? AND record_id = ? AND owner = ?`,
				s.RetryAt.UnixNano(), tenant, source, s.RecordID, owner)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE mirror_queue SET due = ?, owner = NULL, relisted = NULL, attempts = attempts + 1, last_error = ?
				WHERE tenant = ? AND source = ? AND record_id = ? AND owner = ?`,
				s.RetryAt.UnixNano(), s.Error, tenant, source, s.RecordID, owner)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// MirrorBacklog counts the waiting and the parked items.
func (db *DB) MirrorBacklog(ctx context.Context, tenant, source string) (queued, parked int64, err error) {
	defer wrap(&err, "sqlite: mirror backlog")
	err = db.read.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE due < ?), count(*) FILTER (WHERE due >= ?)
		FROM mirror_queue WHERE tenant = ? AND source = ?`,
		callvault.Parked.UnixNano(), callvault.Parked.UnixNano(), tenant, source).Scan(&queued, &parked)
	return queued, parked, err
}

// UnparkMirror makes the parked items due again.
func (db *DB) UnparkMirror(ctx context.Context, tenant, source string, now time.Time) (_ int64, err error) {
	defer wrap(&err, "sqlite: unpark mirror items")
	res, err := db.write.ExecContext(ctx, `UPDATE mirror_queue SET due = ?, attempts = 0 WHERE tenant = ? AND source = ? AND due >= ?`,
		now.UnixNano(), tenant, source, callvault.Parked.UnixNano())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// MirrorState returns a named piece of progress.
func (db *DB) MirrorState(ctx context.Context, tenant, source, name string) (_ []byte, err error) {
	defer wrap(&err, "sqlite: mirror state %s", name)
	var v []byte
	err = db.read.QueryRowContext(ctx, `SELECT value FROM mirror_state WHERE tenant = ? AND source = ? AND name = ?`, tenant, source, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

// SetMirrorState stores a named piece of progress.
func (db *DB) SetMirrorState(ctx context.Context, tenant, source, name string, value []byte) (err error) {
	defer wrap(&err, "sqlite: set mirror state %s", name)
	_, err = db.write.ExecContext(ctx, `INSERT INTO mirror_state (tenant, source, name, value) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant, source, name) DO UPDATE SET value = excluded.value`, tenant, source, name, value)
	return err
}
