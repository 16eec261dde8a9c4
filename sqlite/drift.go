package sqlite

import (
	"context"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/driftrows"
)

var _ callvault.DriftStore = (*DB)(nil)

// NoteDrift adds to the schema drift kept.
func (db *DB) NoteDrift(ctx context.Context, seen []callvault.DriftSeen) (err error) {
	if len(seen) == 0 {
		return nil
	}
	defer wrap(&err, "sqlite: note %d drifted names", len(seen))
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, d := range seen {
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_drift (kind, type, name, count, first_seen, last_seen, tenant, record_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (kind, type, name) DO UPDATE SET count = count + excluded.count,
				first_seen = min(first_seen, excluded.first_seen),
				tenant = CASE WHEN excluded.last_seen >= last_seen THEN excluded.tenant ELSE tenant END,
				record_id = CASE WHEN excluded.last_seen >= last_seen THEN excluded.record_id ELSE record_id END,
				last_seen = max(last_seen, excluded.last_seen)`,
			d.Kind, d.Type, d.Name, d.Count, d.FirstSeen.UnixNano(), d.LastSeen.UnixNano(), d.Tenant, d.RecordID); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Drift returns the schema drift kept.
func (db *DB) Drift(ctx context.Context) (_ []callvault.DriftSeen, err error) {
	defer wrap(&err, "sqlite: schema drift")
	rows, err := db.read.QueryContext(ctx, driftrows.Select)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return driftrows.Read(rows)
}
