package postgres

import (
	"context"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/driftrows"
	"github.com/jackc/pgx/v5"
)

var _ callvault.DriftStore = (*DB)(nil)

// NoteDrift adds to the schema drift kept.
func (db *DB) NoteDrift(ctx context.Context, seen []callvault.DriftSeen) (err error) {
	if len(seen) == 0 {
		return nil
	}
	defer wrap(&err, "postgres: note %d drifted names", len(seen))
	b := &pgx.Batch{}
	for _, d := range seen {
		b.Queue(`INSERT INTO schema_drift AS s (kind, type, name, count, first_seen, last_seen, tenant, record_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (kind, type, name) DO UPDATE SET count = s.count + excluded.count,
				first_seen = least(s.first_seen, excluded.first_seen),
				tenant = CASE WHEN excluded.last_seen >= s.last_seen THEN excluded.tenant ELSE s.tenant END,
				record_id = CASE WHEN excluded.last_seen >= s.last_seen THEN excluded.record_id ELSE s.record_id END,
				last_seen = greatest(s.last_seen, excluded.last_seen)`,
			d.Kind, d.Type, d.Name, d.Count, d.FirstSeen.UnixNano(), d.LastSeen.UnixNano(), d.Tenant, d.RecordID)
	}
	return db.inTx(ctx, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
}

// Drift returns the schema drift kept.
func (db *DB) Drift(ctx context.Context) (_ []callvault.DriftSeen, err error) {
	defer wrap(&err, "postgres: schema drift")
	rows, err := db.pool.Query(ctx, driftrows.Select)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return driftrows.Read(rows)
}
