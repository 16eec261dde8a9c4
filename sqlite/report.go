package sqlite

import (
	"context"
	"database/sql"

	"github.com/callvault/callvault"
)

// SQL of the report rows, prepared once at Open with the queries.
const (
	// An insert that does nothing on a stored key tells a new row from a
	// replaced one, which an upsert does not; the update follows only then.
	sqlInsertReportRow = `INSERT INTO report_rows (tenant, kind, row_key, row_time, body) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (tenant, kind, row_key) DO NOTHING`
	sqlUpdateReportRow = `UPDATE report_rows SET row_time = ?, body = ?
		WHERE tenant = ? AND kind = ? AND row_key = ?`

	// Both read report_rows_by_time; the count reads nothing else. Graph's
	// report functions page with $skip, so a page is an OFFSET into the range.
	sqlCountReportRows = `SELECT COUNT(*) FROM report_rows
		WHERE tenant = ? AND kind = ? AND row_time BETWEEN ? AND ?`
	sqlSelectReportRows = `SELECT CAST(body AS BLOB) FROM report_rows
		WHERE tenant = ? AND kind = ? AND row_time BETWEEN ? AND ?
		ORDER BY row_time, row_key LIMIT ? OFFSET ?`
)

// PutReportRows stores rows of one kind in one transaction, each replacing
// the stored row of its key, and returns how many were new.
func (db *DB) PutReportRows(ctx context.Context, tenant, kind string, rows []callvault.ReportRow) (_ int, err error) {
	// Every row is checked before any is written.
	times, err := callvault.ValidateReportRows(tenant, kind, rows)
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	defer wrap(&err, "sqlite: put %d report rows of kind %s", len(rows), kind)

	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()

	insert := tx.StmtContext(ctx, db.queries.insertReportRow)
	update := tx.StmtContext(ctx, db.queries.updateReportRow)
	added := 0
	for i, row := range rows {
		res, err := insert.ExecContext(ctx, tenant, kind, row.Key, times[i], blob(row.Body))
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, err
		} else if n == 1 {
			added++
			continue
		}
		if _, err := update.ExecContext(ctx, times[i], blob(row.Body), tenant, kind, row.Key); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return added, nil
}

// ListReportRows returns one page of the rows of a kind in a date range, in
// (time, key) order, and how many rows the range holds. The count and the
// page are read in one transaction, so they agree.
func (db *DB) ListReportRows(ctx context.Context, q callvault.ReportQuery) (_ *callvault.ReportPage, err error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	lo, hi, ok := q.Range.Keys()
	if !ok {
		return &callvault.ReportPage{}, nil
	}
	defer wrap(&err, "sqlite: list report rows of kind %s", q.Kind)

	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	page := &callvault.ReportPage{}
	if err := tx.StmtContext(ctx, db.queries.countReportRows).QueryRowContext(ctx, q.Tenant, q.Kind, lo, hi).Scan(&page.Total); err != nil {
		return nil, err
	}
	if int64(q.Offset) >= page.Total {
		return page, nil
	}
	rows, err := tx.StmtContext(ctx, db.queries.selectReportRows).QueryContext(ctx, q.Tenant, q.Kind, lo, hi, q.Limit, q.Offset)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	page.Rows = make([][]byte, 0, min(q.Limit, int(page.Total-int64(q.Offset)), 1024))
	var body sql.RawBytes // of the whole loop, as it escapes (see keep)
	for rows.Next() {
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		page.Rows = append(page.Rows, keep(body))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	page.More = int64(q.Offset)+int64(len(page.Rows)) < page.Total
	return page, nil
}
