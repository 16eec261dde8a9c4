package storetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// pstn is the kind of report row that most report tests use.
const pstn = "pstnCallLogRow"

func (s *suite) testReportRows(t *testing.T) {
	t.Run("a put adds rows of new keys and replaces rows of stored ones", s.testReportUpsert)
	t.Run("a date range includes or excludes the exact instant of each bound", s.testReportRange)
	t.Run("rows are in time then key order, 2,500 in pages of 1,000", s.testReportPaging)
	t.Run("kinds and tenants are apart", s.testReportWalls)
	t.Run("invalid input is refused and writes nothing", s.testReportInvalid)
}

func (s *suite) testReportUpsert(t *testing.T) {
	st := s.store(t)
	a := tenant(t, "a")
	stored := reportRows{}

	for _, tt := range []struct {
		name  string
		rows  []callvault.ReportRow
		added int
	}{
		{"five new rows", []callvault.ReportRow{
			reportRow("k1", base, "first"), reportRow("k2", base.Add(time.Second), "first"),
			reportRow("k3", base, "first"), reportRow("k4", base.Add(time.Hour), "first"), reportRow("k5", time.Time{}, "first"),
		}, 5},
		{"two stored keys with new times and bodies, and a new key", []callvault.ReportRow{
			reportRow("k2", base.Add(-time.Hour), "second"), reportRow("k6", base, "second"), reportRow("k4", base.Add(time.Hour), "second"),
		}, 1},
		{"a new key twice: the last row wins", []callvault.ReportRow{
			reportRow("k7", base, "third"), reportRow("k7", base.Add(time.Minute), "third, again"),
		}, 1},
		{"the same rows again", []callvault.ReportRow{
			reportRow("k7", base.Add(time.Minute), "third, again"), reportRow("k1", base, "first"),
		}, 0},
		{"no rows", nil, 0},
	} {
		n, err := st.PutReportRows(t.Context(), a, pstn, tt.rows)
		if err != nil {
			t.Fatalf("put %s: %v", tt.name, err)
		}
		if n != tt.added {
			t.Errorf("put %s: %d rows were new, want %d", tt.name, n, tt.added)
		}
		stored.put(tt.rows)
		checkReport(t, st, stored, callvault.ReportQuery{Tenant: a, Kind: pstn, Limit: 100})
	}
}

func (s *suite) testReportRange(t *testing.T) {
	st := s.store(t)
	a := tenant(t, "a")
	from, to := base, base.Add(24*time.Hour)
	stored := reportRows{}
	var rows []callvault.ReportRow
	for i, at := range []time.Time{
		from.Add(-tick), from.Add(-1), from, from, from.Add(1), from.Add(tick), from.Add(time.Hour),
		to.Add(-tick), to, to, to.Add(tick),
		time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC), time.Date(2261, 1, 1, 0, 0, 0, 0, time.UTC), {},
	} {
		rows = append(rows, reportRow(fmt.Sprintf("row-%02d", i), at, ""))
	}
	putReport(t, st, a, pstn, rows)
	stored.put(rows)

	zone := time.FixedZone("UTC-3", -3*3600)
	bounds := []time.Time{{}, from, from.Add(tick / 2), to.In(zone), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, f := range bounds {
		for _, u := range bounds {
			for _, fi := range []bool{false, true} {
				for _, ui := range []bool{false, true} {
					r := callvault.TimeRange{From: f, To: u, FromInclusive: fi, ToInclusive: ui}
					checkReport(t, st, stored, callvault.ReportQuery{Tenant: a, Kind: pstn, Range: r, Limit: 3})
				}
			}
		}
	}
}

func (s *suite) testReportPaging(t *testing.T) {
	st := s.store(t)
	a := tenant(t, "a")
	// Five rows on each of 500 instants, put in an order unlike theirs.
	rows := make([]callvault.ReportRow, 2500)
	for i := range rows {
		j := i * 1031 % 2500
		rows[i] = reportRow(fmt.Sprintf("row-%04d", j), base.Add(time.Duration(j%500)*time.Second), "")
	}
	if n := putReport(t, st, a, pstn, rows); n != 2500 {
		t.Fatalf("put 2,500 new rows: %d were new", n)
	}
	stored := reportRows{}
	stored.put(rows)
	want := stored.expect(callvault.TimeRange{})

	// Graph's pages: 1,000 rows, then $skip=1000 and $skip=2000.
	var got [][]byte
	for i, size := range []int{1000, 1000, 500} {
		q := callvault.ReportQuery{Tenant: a, Kind: pstn, Offset: i * 1000, Limit: 1000}
		page := listReport(t, st, q)
		if len(page.Rows) != size || page.More != (i < 2) || page.Total != 2500 {
			t.Errorf("page %d: got %d rows, More %v, Total %d; want %d, %v, 2500", i+1, len(page.Rows), page.More, page.Total, size, i < 2)
		}
		got = append(got, page.Rows...)
	}
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Error("the three pages are not the rows in time then key order")
	}
	for _, tt := range []struct{ offset, limit, rows int }{{2499, 1000, 1}, {2500, 1000, 0}, {1 << 30, 1000, 0}, {0, 1, 1}, {1234, 1, 1}, {0, 2500, 2500}, {0, 1 << 30, 2500}} {
		checkReport(t, st, stored, callvault.ReportQuery{Tenant: a, Kind: pstn, Offset: tt.offset, Limit: tt.limit})
	}
	// A range within, in pages of 500.
	checkReport(t, st, stored, callvault.ReportQuery{Tenant: a, Kind: pstn, Limit: 500,
		Range: callvault.TimeRange{From: base.Add(100 * time.Second), To: base.Add(340 * time.Second), FromInclusive: true}})
}

func (s *suite) testReportWalls(t *testing.T) {
	st := s.store(t)
	a, b := tenant(t, "a"), tenant(t, "b")
	const sms = "smsLogRow"
	stored := map[[2]string]reportRows{}
	for _, tt := range []struct {
		tenant, kind string
		rows         []callvault.ReportRow
		added        int
	}{
		{a, pstn, []callvault.ReportRow{reportRow("k", base, "a pstn"), reportRow("only a pstn", base, "a pstn")}, 2},
		{a, sms, []callvault.ReportRow{reportRow("k", base.Add(time.Hour), "a sms")}, 1},
		{b, pstn, []callvault.ReportRow{reportRow("k", base.Add(time.Minute), "b pstn")}, 1},
		{b, pstn, []callvault.ReportRow{reportRow("only a pstn", base, "b pstn"), reportRow("k", base, "b pstn, again")}, 1},
		{a, sms, []callvault.ReportRow{reportRow("only a pstn", base, "a sms")}, 1},
	} {
		if n := putReport(t, st, tt.tenant, tt.kind, tt.rows); n != tt.added {
			t.Errorf("put of %s rows of %s: %d were new, want %d", tt.kind, tt.tenant, n, tt.added)
		}
		key := [2]string{tt.tenant, tt.kind}
		if stored[key] == nil {
			stored[key] = reportRows{}
		}
		stored[key].put(tt.rows)
	}
	for _, tenant := range []string{a, b, tenant(t, "nobody")} {
		for _, kind := range []string{pstn, sms, "directRoutingLogRow"} {
			checkReport(t, st, stored[[2]string{tenant, kind}], callvault.ReportQuery{Tenant: tenant, Kind: kind, Limit: 10})
		}
	}
}

func (s *suite) testReportInvalid(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	a := tenant(t, "a")
	good := reportRow("good", base, "")
	for _, tt := range []struct {
		name string
		call func() error
	}{
		{"a put without a tenant", func() error {
			_, err := st.PutReportRows(ctx, "", pstn, []callvault.ReportRow{good})
			return err
		}},
		{"a put without a kind", func() error {
			_, err := st.PutReportRows(ctx, a, "", []callvault.ReportRow{good})
			return err
		}},
		{"a put of a row without a key after a good row", func() error {
			_, err := st.PutReportRows(ctx, a, pstn, []callvault.ReportRow{good, reportRow("", base, "")})
			return err
		}},
		{"a list without a tenant", func() error {
			_, err := st.ListReportRows(ctx, callvault.ReportQuery{Kind: pstn, Limit: 10})
			return err
		}},
		{"a list without a kind", func() error {
			_, err := st.ListReportRows(ctx, callvault.ReportQuery{Tenant: a, Limit: 10})
			return err
		}},
		{"a list with a limit of zero", func() error {
			_, err := st.ListReportRows(ctx, callvault.ReportQuery{Tenant: a, Kind: pstn})
			return err
		}},
		{"a list with a negative limit", func() error {
			_, err := st.ListReportRows(ctx, callvault.ReportQuery{Tenant: a, Kind: pstn, Limit: -1})
			return err
		}},
		{"a list with a negative offset", func() error {
			_, err := st.ListReportRows(ctx, callvault.ReportQuery{Tenant: a, Kind: pstn, Offset: -1, Limit: 10})
			return err
		}},
	} {
		wantCode(t, tt.call(), callvault.EINVALID, "%s", tt.name)
	}
	checkReport(t, st, reportRows{}, callvault.ReportQuery{Tenant: a, Kind: pstn, Limit: 10})
}

// reportRow returns a row whose body names its key, time and note.
func reportRow(key string, at time.Time, note string) callvault.ReportRow {
	return callvault.ReportRow{Key: key, Time: at, Body: fmt.Appendf(nil, `{"id":%q,"startDateTime":%q,"note":%q}`, key, describeTime(at), note)}
}

// reportRows are the rows a store should hold for one tenant and kind, by key.
type reportRows map[string]callvault.ReportRow

func (rs reportRows) put(rows []callvault.ReportRow) {
	for _, r := range rows {
		rs[r.Key] = r
	}
}

// expect returns the bodies of the rows in r, in (time, key) order.
func (rs reportRows) expect(r callvault.TimeRange) [][]byte {
	var rows []callvault.ReportRow
	for _, row := range rs {
		if r.Contains(row.Time) {
			rows = append(rows, row)
		}
	}
	slices.SortFunc(rows, func(x, y callvault.ReportRow) int {
		if c := x.Time.Compare(y.Time); c != 0 {
			return c
		}
		return strings.Compare(x.Key, y.Key)
	})
	bodies := make([][]byte, len(rows))
	for i, row := range rows {
		bodies[i] = row.Body
	}
	return bodies
}

// checkReport lists the page of q and checks its rows, More and Total
// against the stored rows.
func checkReport(t *testing.T, st callvault.Store, stored reportRows, q callvault.ReportQuery) {
	t.Helper()
	all := stored.expect(q.Range)
	want := all[min(q.Offset, len(all)):min(q.Offset+min(q.Limit, len(all)), len(all))]
	page := listReport(t, st, q)
	if page.Total != int64(len(all)) || page.More != (q.Offset+len(want) < len(all)) || !slices.EqualFunc(page.Rows, want, bytes.Equal) {
		t.Errorf("list report rows %+v:\ngot  %d rows %s, More %v, Total %d\nwant %d rows %s, More %v, Total %d", q,
			len(page.Rows), bytes.Join(page.Rows, []byte(" ")), page.More, page.Total,
			len(want), bytes.Join(want, []byte(" ")), q.Offset+len(want) < len(all), len(all))
	}
}

func putReport(t *testing.T, st callvault.Store, tenant, kind string, rows []callvault.ReportRow) int {
	t.Helper()
	n, err := st.PutReportRows(t.Context(), tenant, kind, rows)
	if err != nil {
		t.Fatalf("put %d report rows of %s: %v", len(rows), kind, err)
	}
	return n
}

func listReport(t *testing.T, st callvault.Store, q callvault.ReportQuery) *callvault.ReportPage {
	t.Helper()
	page, err := st.ListReportRows(t.Context(), q)
	if err != nil {
		t.Fatalf("list report rows %+v: %v", q, err)
	}
	return page
}
