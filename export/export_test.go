package export_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/export"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
	"github.com/parquet-go/parquet-go"
	xreader "github.com/xitongsys/parquet-go/reader"
	xsource "github.com/xitongsys/parquet-go/source"
)

const tenant = "0d6ad4c2-2bb4-4bb8-8f1e-6a0e2a1f3c77"

var from = time.Date(2026, 8, 3, 0, 0, 0, 0, time.UTC)

func open(t *testing.T) *sqlite.DB {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func load(t *testing.T, st callvault.Store, r io.Reader) ingest.Stats {
	t.Helper()
	var stats ingest.Stats
	if err := (&ingest.Importer{Store: st, Tenant: tenant}).Import(t.Context(), "test", r, &stats); err != nil || stats.Rejected > 0 {
		t.Fatalf("import: %v, %d rejected", err, stats.Rejected)
	}
	return stats
}

func generated(t *testing.T) []byte {
	var buf bytes.Buffer
	if _, err := synth.Write(&buf, synth.Config{Tenant: tenant, Seed: 3, Records: 120, From: from, To: from.AddDate(0, 0, 7), Revisions: true}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The archive is re-importable: a store loaded from it holds the same
// records, byte for byte, and a second run exports only what changed.
func TestArchiveRoundTripsAndIsIncremental(t *testing.T) {
	a := open(t)
	load(t, a, bytes.NewReader(generated(t)))
	dir := t.TempDir()
	stats, err := export.Archive(t.Context(), a, tenant, time.Time{}, dir, "run1")
	if err != nil {
		t.Fatal(err)
	}
	if stats.Records != 120 || len(stats.Files) < 5 || stats.Latest.IsZero() {
		t.Fatalf("archive: %d records in %d files, latest %v", stats.Records, len(stats.Files), stats.Latest)
	}
	b := open(t)
	for _, f := range stats.Files {
		if !strings.Contains(f, "date=2026-08-") {
			t.Errorf("file %s is not partitioned by date", f)
		}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		gz, err := gzip.NewReader(fh)
		if err != nil {
			t.Fatal(err)
		}
		load(t, b, gz)
		fh.Close()
	}
	page, err := a.ListRecords(t.Context(), callvault.RecordQuery{Tenant: tenant, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range page.Records {
		g, err := b.GetRecord(t.Context(), tenant, h.ID)
		if err != nil {
			t.Fatalf("record %s is not in the re-imported store: %v", h.ID, err)
		}
		if !bytes.Equal(g.Body, h.Body) || g.Version != h.Version || g.Sessions != h.Sessions || g.Participants != h.Participants || !bytes.Equal(g.Organizer, h.Organizer) {
			t.Fatalf("record %s differs after the round trip", h.ID)
		}
		sa, _ := a.ListSessions(t.Context(), callvault.SessionQuery{Tenant: tenant, RecordID: h.ID, Limit: 1000, Segments: true})
		sb, _ := b.ListSessions(t.Context(), callvault.SessionQuery{Tenant: tenant, RecordID: h.ID, Limit: 1000, Segments: true})
		if len(sa.Sessions) != len(sb.Sessions) {
			t.Fatalf("record %s: %d sessions, re-imported %d", h.ID, len(sa.Sessions), len(sb.Sessions))
		}
		for i := range sa.Sessions {
			x, y := sa.Sessions[i], sb.Sessions[i]
			if !bytes.Equal(x.Body, y.Body) || len(x.Segments) != len(y.Segments) {
				t.Fatalf("record %s session %d differs", h.ID, i)
			}
			for j := range x.Segments {
				if !bytes.Equal(x.Segments[j].Body, y.Segments[j].Body) {
					t.Fatalf("record %s session %d segment %d differs", h.ID, i, j)
				}
			}
		}
	}

	again, err := export.Archive(t.Context(), a, tenant, stats.Latest, dir, "run2")
	if err != nil || again.Records != 0 {
		t.Fatalf("a run with nothing changed exported %d records (%v)", again.Records, err)
	}
	// A later version of one record: the next run exports it alone.
	h := page.Records[0]
	var m map[string]any
	if err := json.Unmarshal(synth.RecordWithSessions(tenant, 1, h.ID, 2), &m); err != nil {
		t.Fatal(err)
	}
	m["version"], m["lastModifiedDateTime"] = 99, "2027-01-01T00:00:00Z"
	r, _ := json.Marshal(m)
	load(t, a, bytes.NewReader(r))
	third, err := export.Archive(t.Context(), a, tenant, stats.Latest, dir, "run3")
	if err != nil || third.Records != 1 {
		t.Fatalf("after one update the run exported %d records (%v)", third.Records, err)
	}
}

func TestStreamsCSV(t *testing.T) {
	a := open(t)
	load(t, a, bytes.NewReader(generated(t)))
	var want int
	a.VisitQualityStreams(t.Context(), tenant, callvault.TimeRange{}, func(*callvault.QualityStream) error { want++; return nil })
	var buf bytes.Buffer
	n, err := export.Streams(t.Context(), a, tenant, from, from.AddDate(0, 0, 8), nil, export.CSV, &buf)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if n != want || len(rows) != want+1 || strings.Join(rows[0][:4], ",") != "CallId,SessionSeq,SegmentSeq,StreamSeq" || len(rows[1]) != len(export.StreamColumns) {
		t.Fatalf("%d streams written, %d rows, want %d; header %v", n, len(rows), want, rows[0][:4])
	}
}

// Calls writes a row a record under Graph's names, and only the records
// changed since the time it is given.
func TestCallsCSVIsIncremental(t *testing.T) {
	st := open(t)
	stats := load(t, st, bytes.NewReader(generated(t)))
	var buf bytes.Buffer
	all, err := export.Calls(t.Context(), st, tenant, time.Time{}, export.CSV, &buf)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != all.Rows+1 || strings.Join(rows[0], ",") != strings.Join(export.CallColumns, ",") {
		t.Fatalf("%d rows for %d, header %v", len(rows), all.Rows, rows[0])
	}
	if all.Rows == 0 || all.Rows > stats.Records {
		t.Fatalf("%d calls of %d records imported", all.Rows, stats.Records)
	}
	h, err := st.GetRecord(t.Context(), tenant, rows[1][0])
	if err != nil {
		t.Fatal(err)
	}
	if rows[1][1] != strconv.FormatInt(h.Version, 10) || rows[1][10] != strconv.Itoa(h.Sessions) {
		t.Errorf("row %v, record version %d with %d sessions", rows[1], h.Version, h.Sessions)
	}
	// The records changed after the middle one's lastModifiedDateTime.
	var mods []time.Time
	for _, r := range rows[1:] {
		m, err := time.Parse(time.RFC3339Nano, r[6])
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, m)
	}
	slices.SortFunc(mods, time.Time.Compare)
	mid := mods[len(mods)/2]
	want := 0
	for _, m := range mods {
		if m.After(mid) {
			want++
		}
	}
	later, err := export.Calls(t.Context(), st, tenant, mid, export.CSV, io.Discard)
	if err != nil || later.Rows != want || !later.Latest.Equal(all.Latest) {
		t.Fatalf("since %s: %+v, %v; want %d rows up to %s", mid, later, err, want, all.Latest)
	}
	none, err := export.Calls(t.Context(), st, tenant, all.Latest, export.CSV, io.Discard)
	if err != nil || none.Rows != 0 {
		t.Fatalf("since the latest: %+v, %v", none, err)
	}
}

// putPSTN stores the getPstnCalls rows of a week of generated calls.
func putPSTN(t *testing.T, st *sqlite.DB) []callvault.ReportRow {
	t.Helper()
	var pstn bytes.Buffer
	if _, err := synth.Write(io.Discard, synth.Config{Tenant: tenant, Seed: 3, Records: 300, From: from, To: from.AddDate(0, 0, 7), PSTN: &pstn}); err != nil {
		t.Fatal(err)
	}
	var rows []callvault.ReportRow
	for line := range bytes.Lines(pstn.Bytes()) {
		var r struct {
			ID    string    `json:"id"`
			Start time.Time `json:"startDateTime"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, callvault.ReportRow{Key: r.ID, Time: r.Start, Body: bytes.TrimSpace(line)})
	}
	if len(rows) < 2 {
		t.Fatalf("the generator wrote %d PSTN rows", len(rows))
	}
	if _, err := st.PutReportRows(t.Context(), tenant, export.PSTNKind, rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// PSTN flattens the stored getPstnCalls rows into pstnCallLogRow's columns,
// incremental by startDateTime.
func TestPSTNCSVIsIncremental(t *testing.T) {
	st := open(t)
	rows := putPSTN(t, st)
	var buf bytes.Buffer
	all, err := export.PSTN(t.Context(), st, tenant, time.Time{}, export.CSV, &buf)
	if err != nil || all.Rows != len(rows) {
		t.Fatalf("%+v, %v; want %d rows", all, err, len(rows))
	}
	got, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var first map[string]any
	json.Unmarshal(rows[0].Body, &first)
	for i, c := range export.PSTNColumns {
		for _, r := range got[1:] {
			if r[0] == first["id"] && c == "callerNumber" && r[i] != first[c] {
				t.Errorf("%s: %q, want %q", c, r[i], first[c])
			}
		}
	}
	none, err := export.PSTN(t.Context(), st, tenant, all.Latest, export.CSV, io.Discard)
	if err != nil || none.Rows != 0 {
		t.Fatalf("since the latest: %+v, %v", none, err)
	}
}

// The Parquet file holds what the CSV holds: read back with parquet-go's
// reader, every row equals the CSV's, value by value; the metrics a stream
// lacks are nulls, StartTime a timestamp.
func TestStreamsParquetReadsBackAsTheCSV(t *testing.T) {
	st := open(t)
	load(t, st, bytes.NewReader(generated(t)))
	to := from.AddDate(0, 0, 8)
	var pq, cv bytes.Buffer
	n, err := export.Streams(t.Context(), st, tenant, from, to, nil, export.Parquet, &pq)
	if err != nil || n == 0 {
		t.Fatalf("%d rows, %v", n, err)
	}
	if _, err := export.Streams(t.Context(), st, tenant, from, to, nil, export.CSV, &cv); err != nil {
		t.Fatal(err)
	}
	want, err := csv.NewReader(&cv).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	b := pq.Bytes()
	if string(b[:4]) != "PAR1" || string(b[len(b)-4:]) != "PAR1" {
		t.Fatal("not a Parquet file")
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if f.NumRows() != int64(n) || len(f.Schema().Fields()) != len(export.StreamColumns) {
		t.Fatalf("%d rows of %d columns, want %d of %d", f.NumRows(), len(f.Schema().Fields()), n, len(export.StreamColumns))
	}
	for i, field := range f.Schema().Fields() {
		if field.Name() != export.StreamColumns[i] {
			t.Fatalf("column %d is %s, the CSV's %s", i, field.Name(), export.StreamColumns[i])
		}
	}
	if lt := f.Schema().Fields()[4].Type().LogicalType(); lt == nil || !strings.HasPrefix(strings.ToUpper(lt.String()), "TIMESTAMP") {
		t.Errorf("StartTime's logical type %v", lt)
	}
	rows := make([]parquet.Row, n)
	r := parquet.NewReader(bytes.NewReader(b))
	got, err := r.ReadRows(rows)
	if err != nil && !errors.Is(err, io.EOF) || got != n {
		t.Fatalf("read %d rows: %v", got, err)
	}
	for i, row := range rows {
		for j, v := range row {
			if text := streamText(j, v); text != want[i+1][j] {
				t.Fatalf("row %d, %s: %q in Parquet, %q in the CSV", i, export.StreamColumns[j], text, want[i+1][j])
			}
		}
	}
}

// streamText is the value of the streams' column j as the CSV writes it.
func streamText(j int, v parquet.Value) string {
	switch {
	case v.IsNull():
		return ""
	case export.StreamColumns[j] == "StartTime":
		return time.Unix(0, v.Int64()).UTC().Format(time.RFC3339Nano)
	case v.Kind() == parquet.Boolean:
		return strconv.FormatBool(v.Boolean())
	case v.Kind() == parquet.Double:
		return strconv.FormatFloat(v.Double(), 'g', -1, 64)
	case v.Kind() == parquet.Int32:
		return strconv.Itoa(int(v.Int32()))
	case v.Kind() == parquet.Int64:
		return strconv.FormatInt(v.Int64(), 10)
	}
	return string(v.ByteArray())
}

// memFile is an in-memory source.ParquetFile for the second reader.
type memFile struct{ *bytes.Reader }

func (memFile) Write([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
func (memFile) Close() error              { return nil }
func (f memFile) Open(string) (xsource.ParquetFile, error) {
	return memFile{bytes.NewReader(f.bytes())}, nil
}
func (memFile) Create(string) (xsource.ParquetFile, error) { return nil, io.ErrUnexpectedEOF }
func (f memFile) bytes() []byte                            { b := make([]byte, f.Size()); f.ReadAt(b, 0); return b }

// A second, independent implementation (xitongsys/parquet-go, which
// shares no code with the writer's library) reads the file's columns
// back: every row, the metrics' nulls and the names as the CSV has them.
func TestStreamsParquetReadsBackInAnotherReader(t *testing.T) {
	st := open(t)
	load(t, st, bytes.NewReader(generated(t)))
	to := from.AddDate(0, 0, 8)
	var pq, cv bytes.Buffer
	n, err := export.Streams(t.Context(), st, tenant, from, to, nil, export.Parquet, &pq)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := export.Streams(t.Context(), st, tenant, from, to, nil, export.CSV, &cv); err != nil {
		t.Fatal(err)
	}
	want, err := csv.NewReader(&cv).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	pr, err := xreader.NewParquetColumnReader(memFile{bytes.NewReader(pq.Bytes())}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.ReadStop()
	if pr.GetNumRows() != int64(n) {
		t.Fatalf("%d rows, want %d", pr.GetNumRows(), n)
	}
	for j, name := range export.StreamColumns {
		values, _, _, err := pr.ReadColumnByIndex(int64(j), int64(n))
		if err != nil || len(values) != n {
			t.Fatalf("column %s: %d values, %v", name, len(values), err)
		}
		for i, v := range values {
			var text string
			switch x := v.(type) {
			case nil:
			case string:
				text = x
			case bool:
				text = strconv.FormatBool(x)
			case int32:
				text = strconv.Itoa(int(x))
			case int64:
				text = time.Unix(0, x).UTC().Format(time.RFC3339Nano)
			case float64:
				text = strconv.FormatFloat(x, 'g', -1, 64)
			default:
				t.Fatalf("column %s: a %T", name, v)
			}
			if text != want[i+1][j] {
				t.Fatalf("row %d, %s: %q read by the second reader, %q in the CSV", i, name, text, want[i+1][j])
			}
		}
	}
}

// Calls and PSTN in Parquet hold what their CSV holds, read back by both
// Parquet readers: the columns in the CSV's order and names, times as
// timestamps, counts as integers, charges as doubles, the empty as nulls.
func TestCallsAndPSTNParquetReadBackAsTheCSV(t *testing.T) {
	st := open(t)
	load(t, st, bytes.NewReader(generated(t)))
	putPSTN(t, st)
	for _, tc := range []struct {
		name  string
		cols  []string
		write func(context.Context, callvault.Store, string, time.Time, export.Format, io.Writer) (export.CallStats, error)
	}{{"calls", export.CallColumns, export.Calls}, {"pstn", export.PSTNColumns, export.PSTN}} {
		t.Run(tc.name, func(t *testing.T) {
			var pq, cv bytes.Buffer
			sp, err := tc.write(t.Context(), st, tenant, time.Time{}, export.Parquet, &pq)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := tc.write(t.Context(), st, tenant, time.Time{}, export.CSV, &cv)
			if err != nil || sc != sp || sp.Rows == 0 {
				t.Fatalf("CSV %+v, Parquet %+v, %v", sc, sp, err)
			}
			want, err := csv.NewReader(&cv).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			n := sp.Rows
			b := pq.Bytes()
			f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			fields := f.Schema().Fields()
			if f.NumRows() != int64(n) || len(fields) != len(tc.cols) {
				t.Fatalf("%d rows of %d columns, want %d of %d", f.NumRows(), len(fields), n, len(tc.cols))
			}
			for j, field := range fields {
				if field.Name() != tc.cols[j] || !field.Optional() {
					t.Fatalf("column %d is %s (optional %v), the CSV's %s", j, field.Name(), field.Optional(), tc.cols[j])
				}
				lt := field.Type().LogicalType()
				if isTime := strings.HasSuffix(field.Name(), "DateTime"); isTime != (lt != nil && strings.HasPrefix(strings.ToUpper(lt.String()), "TIMESTAMP")) {
					t.Errorf("column %s: logical type %v", field.Name(), lt)
				}
			}
			got := make([]parquet.Row, n)
			if m, err := parquet.NewReader(bytes.NewReader(b)).ReadRows(got); err != nil && !errors.Is(err, io.EOF) || m != n {
				t.Fatalf("read %d rows: %v", m, err)
			}
			for i, row := range got {
				for j, v := range row {
					var x any
					switch {
					case v.IsNull():
					case v.Kind() == parquet.Int64:
						x = v.Int64()
					case v.Kind() == parquet.Double:
						x = v.Double()
					default:
						x = string(v.ByteArray())
					}
					sameCell(t, "parquet-go", tc.cols[j], i, x, want[i+1][j])
				}
			}
			pr, err := xreader.NewParquetColumnReader(memFile{bytes.NewReader(b)}, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer pr.ReadStop()
			for j, name := range tc.cols {
				values, _, _, err := pr.ReadColumnByIndex(int64(j), int64(n))
				if err != nil || len(values) != n {
					t.Fatalf("column %s: %d values, %v", name, len(values), err)
				}
				for i, v := range values {
					sameCell(t, "the second reader", name, i, v, want[i+1][j])
				}
			}
		})
	}
}

// sameCell fails unless a Parquet value (nil, a string, an int64, which a
// column named …DateTime holds as nanoseconds, or a float64) says what the
// CSV's text says.
func sameCell(t *testing.T, reader, col string, row int, v any, text string) {
	t.Helper()
	ok := false
	switch x := v.(type) {
	case nil:
		ok = text == ""
	case string:
		ok = x == text
	case int64:
		if strings.HasSuffix(col, "DateTime") {
			want, err := time.Parse(time.RFC3339Nano, text)
			ok = err == nil && want.Equal(time.Unix(0, x))
		} else {
			ok = strconv.FormatInt(x, 10) == text
		}
	case float64:
		want, err := strconv.ParseFloat(text, 64)
		ok = err == nil && want == x
	}
	if !ok {
		t.Fatalf("row %d, %s: %v (%T) read by %s, %q in the CSV", row, col, v, v, reader, text)
	}
}
