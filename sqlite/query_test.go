package sqlite

import (
	"database/sql"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// TestQueryPlansOfQueries checks that every query reads one range of an
// index from its cursor (no sort, no scan of a tenant), on an empty
// database and on one whose statistics ANALYZE has gathered, as PRAGMA
// optimize does at Close.
func TestQueryPlansOfQueries(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	ctx := t.Context()
	checkPlans(t, db, "on an empty database")

	// Two tenants: one with many records of a few participants, one small.
	for i := range 300 {
		tenant := "big"
		if i%10 == 0 {
			tenant = "small"
		}
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
		r := &callvault.Record{Tenant: tenant, ID: fmt.Sprintf("record-%03d", i), Version: 1, StartDateTime: start, EndDateTime: start.Add(time.Hour), Body: []byte(`{}`),
			Sessions:     []callvault.Session{{ID: "s", Body: []byte(`{}`), Segments: []callvault.Segment{{ID: "g", Body: []byte(`{}`)}}}},
			Participants: []callvault.Participant{{ID: fmt.Sprint("p", i%3), Body: []byte(`{}`)}, {ID: "everyone", Body: []byte(`{}`)}}}
		if _, err := db.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	rows := make([]callvault.ReportRow, 500)
	for i := range rows {
		rows[i] = callvault.ReportRow{Key: fmt.Sprint("row-", i), Time: time.Unix(int64(i), 0), Body: []byte(`{}`)}
	}
	if _, err := db.PutReportRows(ctx, "big", "pstnCallLogRow", rows); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	checkPlans(t, db, "after ANALYZE")
}

// byRecord is the start of the plan of every query of the rows below a
// record: the record by (tenant, id), from the index alone.
const byRecord = "SEARCH c USING COVERING INDEX sqlite_autoindex_call_records_1 (tenant=? AND id=?); "

// plans are the statements of the store and the plan each must have: one
// search of an index (or the rowid), a range from the cursor in list order,
// never a SCAN or a TEMP B-TREE. The rows below a record are found by its
// rk, which the statement itself takes from the record's (tenant, id).
var plans = []struct {
	sql  string
	args []any
	want string
}{
	// Writer.
	{sqlSelectVersion, []any{"t", "r"}, "SEARCH call_records USING INDEX sqlite_autoindex_call_records_1 (tenant=? AND id=?)"},
	{sqlUpdateRecord, []any{1, 0, 0, []byte("{}"), nil, 0, 0, 7, 1}, "SEARCH call_records USING INTEGER PRIMARY KEY (rowid=?)"},
	{sqlDeleteSegments, []any{1}, "SEARCH segments USING COVERING INDEX sqlite_autoindex_segments_1 (rk=?)"},
	{sqlDeleteSessions, []any{1}, "SEARCH sessions USING COVERING INDEX sqlite_autoindex_sessions_1 (rk=?); " +
		// The foreign key's check that no segment is left.
		"SEARCH segments USING COVERING INDEX sqlite_autoindex_segments_1 (rk=? AND session_seq=?)"},
	{sqlDeleteParticipants, []any{1}, "SEARCH participants USING COVERING INDEX sqlite_autoindex_participants_1 (rk=?)"},

	// A record and its sessions.
	{sqlSelectHeader, []any{"t", "r"}, "SEARCH call_records USING INDEX sqlite_autoindex_call_records_1 (tenant=? AND id=?)"},
	{sqlRecordExists, []any{"t", "r"}, "SEARCH call_records USING COVERING INDEX sqlite_autoindex_call_records_1 (tenant=? AND id=?)"},
	{sqlSelectSessions, []any{"t", "r", 100, 61}, byRecord + "SEARCH s USING INDEX sqlite_autoindex_sessions_1 (rk=? AND seq>?)"},
	{sqlSelectSegments, []any{"t", "r", 101, 160}, byRecord + "SEARCH g USING INDEX sqlite_autoindex_segments_1 (rk=? AND session_seq>? AND session_seq<?)"},

	// The queries.
	{sqlSelectRecords, []any{"t", callvault.ZeroKey, "", math.MaxInt64, callvault.ZeroKey, math.MaxInt64, 61},
		"SEARCH call_records USING INDEX call_records_by_start (tenant=? AND (start_time,id)>(?,?) AND start_time<?)"},
	{sqlCountRecords, []any{"t", callvault.ZeroKey, math.MaxInt64, callvault.ZeroKey, math.MaxInt64},
		"SEARCH call_records USING COVERING INDEX call_records_by_start (tenant=? AND start_time>? AND start_time<?)"},
	{sqlSelectParticipantRecords, []any{"t", "p", callvault.ZeroKey, "", math.MaxInt64, callvault.ZeroKey, math.MaxInt64, 61},
		"SEARCH p USING COVERING INDEX participants_by_id (tenant=? AND id=? AND (record_start,record_id)>(?,?) AND record_start<?); " +
			"SEARCH c USING INTEGER PRIMARY KEY (rowid=?)"},
	{sqlCountParticipantRecords, []any{"t", "p", callvault.ZeroKey, math.MaxInt64, callvault.ZeroKey, math.MaxInt64},
		"SEARCH participants USING COVERING INDEX participants_by_id (tenant=? AND id=? AND record_start>? AND record_start<?)"},
	{sqlSelectSession, []any{"t", "r", "s"}, byRecord + "SEARCH s USING INDEX sessions_by_id (rk=? AND id=?)"},
	{sqlSelectSessionSegments, []any{"t", "r", 1}, byRecord + "SEARCH g USING INDEX sqlite_autoindex_segments_1 (rk=? AND session_seq=?)"},
	{sqlSelectParticipants, []any{"t", "r", 130, 131}, byRecord + "SEARCH p USING INDEX sqlite_autoindex_participants_1 (rk=? AND seq>?)"},
	{sqlSelectParticipant, []any{"t", "r", "p"}, byRecord + "SEARCH p USING INDEX participants_in_record (rk=? AND id=?)"},

	// Report rows.
	{sqlCountReportRows, []any{"t", "k", callvault.ZeroKey, math.MaxInt64},
		"SEARCH report_rows USING COVERING INDEX report_rows_by_time (tenant=? AND kind=? AND row_time>? AND row_time<?)"},
	{sqlSelectReportRows, []any{"t", "k", callvault.ZeroKey, math.MaxInt64, 1000, 2000},
		"SEARCH report_rows USING INDEX report_rows_by_time (tenant=? AND kind=? AND row_time>? AND row_time<?)"},
	{sqlUpdateReportRow, []any{1, []byte("{}"), "t", "k", "r"},
		"SEARCH report_rows USING INDEX sqlite_autoindex_report_rows_1 (tenant=? AND kind=? AND row_key=?)"},
}

// checkPlans checks the plan of each of plans in db.
func checkPlans(t *testing.T, db *DB, when string) {
	t.Helper()
	for _, tt := range plans {
		got := queryPlan(t, db.write, tt.sql, tt.args...)
		if got != tt.want {
			t.Errorf("%s: plan of %s\ngot  %s\nwant %s", when, tt.sql, got, tt.want)
		}
		if strings.Contains(got, "SCAN") || strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("%s: %s scans or sorts: %s", when, tt.sql, got)
		}
	}
}

func queryPlan(t *testing.T, db *sql.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}

// TestMigrationFromTheFirstSchema opens a database that the first schema
// wrote, with NULL for zero times, and checks that the second migration
// fills what the new queries read.
func TestMigrationFromTheFirstSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "callvault.db")
	old, err := sql.Open("sqlite", dsn(path, url.Values{"_foreign_keys": {"1"}}))
	if err != nil {
		t.Fatal(err)
	}
	first, err := fs.ReadFile(migrationFS, "migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2024, 3, 1, 9, 30, 15, 216988900, time.UTC)
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT '')`, nil},
		{string(first), nil},
		{`INSERT INTO schema_migrations (name) VALUES ('migrations/0001_init.sql')`, nil},
		{`INSERT INTO call_records VALUES ('t', 'no times', 1, NULL, NULL, '{"n":1}', NULL, 1)`, nil},
		{`INSERT INTO call_records VALUES ('t', 'timed', 2, ?, ?, '{"n":2}', '{"o":2}', 0)`, []any{start.UnixNano(), start.Add(time.Hour).UnixNano()}},
		{`INSERT INTO call_records VALUES ('u', 'no times', 1, NULL, NULL, '{"u":1}', NULL, 0)`, nil},
		{`INSERT INTO sessions VALUES ('t', 'no times', 1, 's', '{"s":1}')`, nil},
		{`INSERT INTO segments VALUES ('t', 'no times', 1, 1, 'g', '{"g":1}')`, nil},
		{`INSERT INTO participants VALUES ('t', 'no times', 1, 'x', '{"x":1}'), ('t', 'no times', 2, 'y', '{"y":2}'), ('t', 'no times', 3, 'x', '{"x":3}')`, nil},
		{`INSERT INTO participants VALUES ('t', 'timed', 1, 'x', '{"x":1}')`, nil},
		{`INSERT INTO participants VALUES ('u', 'no times', 1, 'x', '{"x":1}')`, nil},
	} {
		if _, err := old.ExecContext(ctx, stmt.sql, stmt.args...); err != nil {
			t.Fatalf("%s: %v", stmt.sql, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	db := open(t, path)
	defer db.Close()
	for _, want := range []callvault.RecordHeader{
		{ID: "no times", Version: 1, Body: []byte(`{"n":1}`), Sessions: 1, Participants: 3},
		{ID: "timed", Version: 2, StartDateTime: start, EndDateTime: start.Add(time.Hour), Body: []byte(`{"n":2}`), Organizer: []byte(`{"o":2}`), Participants: 1},
	} {
		h, err := db.GetRecord(ctx, "t", want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%+v", *h); got != fmt.Sprintf("%+v", want) {
			t.Errorf("header of %s\ngot  %s\nwant %+v", want.ID, got, want)
		}
	}
	for _, tt := range []struct {
		q    callvault.RecordQuery
		want string
	}{
		{callvault.RecordQuery{Tenant: "t"}, "no times,timed"},
		{callvault.RecordQuery{Tenant: "t", ParticipantID: "x"}, "no times,timed"},
		{callvault.RecordQuery{Tenant: "t", ParticipantID: "y"}, "no times"},
		{callvault.RecordQuery{Tenant: "t", ParticipantID: "x", Start: callvault.TimeRange{To: start}}, "no times"},
		{callvault.RecordQuery{Tenant: "t", ParticipantID: "x", Start: callvault.TimeRange{From: start, FromInclusive: true}}, "timed"},
		{callvault.RecordQuery{Tenant: "t", ParticipantID: "x", NotBefore: start}, "timed"},
		{callvault.RecordQuery{Tenant: "u", ParticipantID: "x"}, "no times"},
	} {
		for _, limit := range []int{1, 10} {
			var ids []string
			q := tt.q
			q.Limit = limit
			for {
				page, err := db.ListRecords(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, h := range page.Records {
					ids = append(ids, h.ID)
				}
				if !page.More {
					break
				}
				last := page.Records[len(page.Records)-1]
				q.After = &callvault.RecordKey{StartDateTime: last.StartDateTime, ID: last.ID}
			}
			if got := strings.Join(ids, ","); got != tt.want {
				t.Errorf("list %+v in pages of %d: got %s, want %s", tt.q, limit, got, tt.want)
			}
			if n, err := db.CountRecords(ctx, tt.q); err != nil || n != int64(len(ids)) {
				t.Errorf("count %+v: got %d, %v; want %d", tt.q, n, err, len(ids))
			}
		}
	}
	if p, err := db.GetParticipant(ctx, "t", "no times", "x"); err != nil || p.Seq != 1 {
		t.Errorf("get participant x: got %+v, %v; want the first", p, err)
	}
	if s, err := db.GetSession(ctx, "t", "no times", "s", true); err != nil || len(s.Segments) != 1 {
		t.Errorf("get session s: got %+v, %v; want it with its segment", s, err)
	}
}

// TestTimesOutOfRange checks the times that the columns cannot hold: before
// 1678 (and the one instant that stands for the zero time) or after 2262.
func TestTimesOutOfRange(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	ctx := t.Context()
	in := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{
		time.Unix(0, math.MinInt64),
		time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		_, err := db.PutRecord(ctx, &callvault.Record{Tenant: "t", ID: "r", StartDateTime: at, EndDateTime: in})
		wantCode(t, err, callvault.EINVALID, "put a record starting at %v", at)
		_, err = db.PutRecord(ctx, &callvault.Record{Tenant: "t", ID: "r", StartDateTime: in, EndDateTime: at})
		wantCode(t, err, callvault.EINVALID, "put a record ending at %v", at)
		_, err = db.PutReportRows(ctx, "t", "k", []callvault.ReportRow{{Key: "good", Time: in}, {Key: "bad", Time: at}})
		wantCode(t, err, callvault.EINVALID, "put a report row at %v", at)
		_, err = db.ListRecords(ctx, callvault.RecordQuery{Tenant: "t", Limit: 10, After: &callvault.RecordKey{StartDateTime: at, ID: "r"}})
		wantCode(t, err, callvault.EINVALID, "list after a record at %v", at)
	}
	if _, err := db.GetRecord(ctx, "t", "r"); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("a record was written: %v", err)
	}
	if page, err := db.ListReportRows(ctx, callvault.ReportQuery{Tenant: "t", Kind: "k", Limit: 10}); err != nil || page.Total != 0 {
		t.Errorf("report rows were written: %+v, %v", page, err)
	}

	// The first and last instants the columns hold round-trip.
	first, last := time.Unix(0, math.MinInt64+1).UTC(), time.Unix(0, math.MaxInt64).UTC()
	if _, err := db.PutRecord(ctx, &callvault.Record{Tenant: "t", ID: "r", StartDateTime: first, EndDateTime: last}); err != nil {
		t.Fatal(err)
	}
	if h, err := db.GetRecord(ctx, "t", "r"); err != nil || !h.StartDateTime.Equal(first) || !h.EndDateTime.Equal(last) {
		t.Errorf("got %+v, %v; want a start of %v and an end of %v", h, err, first, last)
	}
}

func wantCode(t *testing.T, err error, code string, format string, args ...any) {
	t.Helper()
	if got := callvault.ErrorCode(err); got != code {
		t.Errorf("%s: got error %v (code %q), want code %q", fmt.Sprintf(format, args...), err, got, code)
	}
}
