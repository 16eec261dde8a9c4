package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/callvault/callvault"
)

var _ callvault.MirrorStore = (*DB)(nil)

// EnqueueMirror queues record ids to fetch.
func (db *DB) EnqueueMirror(ctx context.Context, tenant, source string, ids []string, due time.Time) (err error) {
	if len(ids) == 0 {
		return nil
	}
	defer wrap(&err, "sqlite: enqueue %d mirror items", len(ids))
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO mirror_queue (tenant, source, record_id, due) VALUES (?, ?, ?, ?)
		ON CONFLICT (tenant, source, record_id) DO UPDATE SET due = min(due, excluded.due) WHERE owner IS NULL`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, id := range ids {
		if _, err := stmt.ExecContext(ctx, tenant, source, id, due.UnixNano()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ClaimMirror leases due items to owner.
func (db *DB) ClaimMirror(ctx context.Context, tenant, source, owner string, now time.Time, lease time.Duration, limit int) (_ []callvault.MirrorItem, err error) {
	defer wrap(&err, "sqlite: claim mirror items")
	rows, err := db.write.QueryContext(ctx, `UPDATE mirror_queue SET due = ?, owner = ?
		WHERE rowid IN (SELECT rowid FROM mirror_queue WHERE tenant = ? AND source = ? AND due <= ? ORDER BY due LIMIT ?)
		RETURNING record_id, attempts, coalesce(last_error, '')`,
		now.Add(lease).UnixNano(), owner, tenant, source, now.UnixNano(), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []callvault.MirrorItem
	for rows.Next() {
		var it callvault.MirrorItem
		if err := rows.Scan(&it.RecordID, &it.Attempts, &it.LastError); err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, rows.Err()
}

// SettleMirror deletes the fetched items and reschedules the others.
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
			_, err = tx.ExecContext(ctx, `DELETE FROM mirror_queue WHERE tenant = ? AND source = ? AND record_id = ? AND owner = ?`,
				tenant, source, s.RecordID, owner)
		case s.Error == "": // released, never tried
			_, err = tx.ExecContext(ctx, `UPDATE mirror_queue SET due = ?, owner = NULL WHERE tenant = ? AND source = ? AND record_id = ? AND owner = ?`,
				s.RetryAt.UnixNano(), tenant, source, s.RecordID, owner)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE mirror_queue SET due = ?, owner = NULL, attempts = attempts + 1, last_error = ?
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
