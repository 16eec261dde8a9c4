package postgres

import (
	"context"
	"slices"

	"github.com/callvault/callvault"
	"github.com/jackc/pgx/v5"
)

// SQL of report rows.
const (
	// New report rows are inserted and counted; the rest replace the stored
	// rows, where they differ.
	sqlInsertReportRows = `INSERT INTO report_rows (tenant, kind, row_key, row_time, body)
		SELECT $1::TEXT, $2::TEXT, u.row_key, u.row_time, u.body
		FROM unnest($3::TEXT[], $4::BIGINT[], $5::BYTEA[]) AS u (row_key, row_time, body)
		ON CONFLICT (tenant, kind, row_key) DO NOTHING`
	sqlUpdateReportRows = `UPDATE report_rows AS r SET row_time = u.row_time, body = u.body
		FROM unnest($3::TEXT[], $4::BIGINT[], $5::BYTEA[]) AS u (row_key, row_time, body)
		WHERE r.tenant = $1 AND r.kind = $2 AND r.row_key = u.row_key
		AND (r.row_time <> u.row_time OR r.body <> u.body)`
)

// PutReportRows stores report rows of one kind in one transaction, each
// replacing a stored row with the same key, and returns how many were new.
// Of rows with the same key, the last wins.
func (db *DB) PutReportRows(ctx context.Context, tenant, kind string, rows []callvault.ReportRow) (_ int, err error) {
	if _, err := callvault.ValidateReportRows(tenant, kind, rows); err != nil {
		return 0, err
	} else if !storable(tenant) || !storable(kind) {
		return 0, callvault.Errorf(callvault.EINVALID, "A tenant and a report row kind must be UTF-8 without NUL characters.")
	}
	last := make(map[string]int, len(rows))
	for i, r := range rows {
		if !storable(r.Key) {
			return 0, callvault.Errorf(callvault.EINVALID, "The key of report row %d is not UTF-8 without NUL characters.", i+1)
		}
		last[r.Key] = i
	}
	if len(last) == 0 {
		return 0, nil
	}
	// In key order, so that concurrent puts lock rows in the same order and
	// never deadlock.
	keys := make([]string, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	defer wrap(&err, "postgres: put %s report rows", kind)

	var added int
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		added = 0
		for start := 0; start < len(keys); {
			var c chunk
			var times []int64
			var bodies [][]byte
			end := start
			for end < len(keys) {
				r := rows[last[keys[end]]]
				k, _ := callvault.TimeKey(r.Time)
				times, bodies = append(times, k), append(bodies, blob(r.Body))
				end++
				if c.add(r.Body) {
					break
				}
			}
			tag, err := tx.Exec(ctx, sqlInsertReportRows, tenant, kind, keys[start:end], times, bodies)
			if err != nil {
				return err
			}
			added += int(tag.RowsAffected())
			if _, err := tx.Exec(ctx, sqlUpdateReportRows, tenant, kind, keys[start:end], times, bodies); err != nil {
				return err
			}
			start = end
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	db.replicas.wrote(tenant)
	return added, nil
}

// ListReportRows returns one page of report rows in (Time, Key) order, and
// the number of rows the query matches, in one statement.
func (db *DB) ListReportRows(ctx context.Context, q callvault.ReportQuery) (_ *callvault.ReportPage, err error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	page := &callvault.ReportPage{}
	lo, hi, ok := q.Range.Keys()
	if !ok || !storable(q.Tenant) || !storable(q.Kind) {
		return page, nil
	}
	defer wrap(&err, "postgres: list %s report rows", q.Kind)

	const match = `FROM report_rows WHERE tenant = $1 AND kind = $2 AND row_time >= $3 AND row_time <= $4`
	// The count is the row with part 0; the page's rows follow, in order.
	err = db.read(ctx, q.Tenant, func(r reader) error {
		page.Rows = page.Rows[:0]
		rows, err := r.Query(ctx, `SELECT 0 AS part, count(*), 0::BIGINT, ''::TEXT, ''::BYTEA `+match+`
			UNION ALL
			(SELECT 1, 0, row_time, row_key, body `+match+`
				ORDER BY row_time, row_key OFFSET $5 LIMIT $6)
			ORDER BY 1, 3, 4`,
			q.Tenant, q.Kind, lo, hi, q.Offset, addCapped(int64(q.Limit), 1))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var part, count, rowTime int64
			var key string
			var body []byte
			if err := rows.Scan(&part, &count, &rowTime, &key, &body); err != nil {
				return err
			}
			if part == 0 {
				page.Total = count
			} else {
				page.Rows = append(page.Rows, body)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	if len(page.Rows) > q.Limit {
		page.Rows, page.More = page.Rows[:q.Limit], true
	}
	return page, nil
}
