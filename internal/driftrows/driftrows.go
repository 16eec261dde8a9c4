// Package driftrows reads the schema_drift table (callvault.DriftStore)
// from database/sql and pgx alike: both stores keep it in the same columns.
package driftrows

import (
	"time"

	"github.com/callvault/callvault"
)

// Select is the query of every kept name, in the order Drift returns them.
const Select = `SELECT kind, type, name, count, first_seen, last_seen, tenant, record_id
	FROM schema_drift ORDER BY kind, type, name`

// Rows is what *sql.Rows and pgx.Rows have in common.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// Read reads the rows of Select. The caller closes rows.
func Read(rows Rows) ([]callvault.DriftSeen, error) {
	var all []callvault.DriftSeen
	for rows.Next() {
		var d callvault.DriftSeen
		var first, last int64
		if err := rows.Scan(&d.Kind, &d.Type, &d.Name, &d.Count, &first, &last, &d.Tenant, &d.RecordID); err != nil {
			return nil, err
		}
		d.FirstSeen, d.LastSeen = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
		all = append(all, d)
	}
	return all, rows.Err()
}
