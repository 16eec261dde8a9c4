package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
)

const tenant = "5a4f7e36-0f3c-4c66-9a1b-2c3d4e5f6a7b"

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Everything the generator writes validates against the schema, and the
// store ends with each record at its final version.
func TestGeneratedRecordsValidateAndReimportIdempotently(t *testing.T) {
	var out, pstn, direct bytes.Buffer
	gen, err := synth.Write(&out, synth.Config{Tenant: tenant, Seed: 11, Records: 300, Revisions: true, PSTN: &pstn, DirectRouting: &direct})
	if err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	ctx := context.Background()
	var results []ingest.Result
	im := &ingest.Importer{Store: db, Tenant: tenant, BatchRecords: 17, // many batches
		OnReject: func(r ingest.Rejection) { t.Errorf("rejected %v", r) },
		OnResult: func(r ingest.Result) { results = append(results, r) }}
	var st ingest.Stats
	for name, src := range map[string]*bytes.Buffer{"calls": &out, "pstn": &pstn, "direct": &direct} {
		if err := im.Import(ctx, name, bytes.NewReader(src.Bytes()), &st); err != nil {
			t.Fatal(err)
		}
	}
	if st.Inserted != 300 || st.Replaced != gen.Revisions || st.Stale != 0 || st.Rows != gen.PSTNRows+gen.DirectRouting || st.Rejected != 0 {
		t.Errorf("first import: %+v (generated %+v)", st, gen)
	}
	if len(results) != gen.Records {
		t.Errorf("%d results for %d records", len(results), gen.Records)
	}
	for i, r := range results {
		if r.Index != i || r.Line != i+1 || r.ID == "" {
			t.Errorf("result %d: %+v", i, r)
			break
		}
	}
	n, err := db.CountRecords(ctx, callvault.RecordQuery{Tenant: tenant})
	if err != nil || n != 300 {
		t.Fatalf("%d records stored, %v", n, err)
	}

	var again ingest.Stats
	if err := im.Import(ctx, "calls", bytes.NewReader(out.Bytes()), &again); err != nil {
		t.Fatal(err)
	}
	if again.Inserted != 0 || again.Replaced != 300 || again.Stale != gen.Revisions || again.Rejected != 0 {
		t.Errorf("re-import: %+v", again)
	}
	if n2, _ := db.CountRecords(ctx, callvault.RecordQuery{Tenant: tenant}); n2 != n {
		t.Errorf("re-import changed the count: %d, want %d", n2, n)
	}
}

// failingStore fails every batch after the first.
type failingStore struct {
	*sqlite.DB
	batches int
}

func (f *failingStore) PutRecords(ctx context.Context, rs []*callvault.Record) ([]callvault.PutOutcome, []error, error) {
	f.batches++
	if f.batches > 1 {
		return nil, nil, errors.New("disk on fire")
	}
	return f.DB.PutRecords(ctx, rs)
}

// Records are counted and reported only once their transaction committed.
func TestImportReportsOnlyCommittedRecords(t *testing.T) {
	var out bytes.Buffer
	if _, err := synth.Write(&out, synth.Config{Tenant: tenant, Seed: 2, Records: 30}); err != nil {
		t.Fatal(err)
	}
	store := &failingStore{DB: openDB(t)}
	reported := 0
	im := &ingest.Importer{Store: store, Tenant: tenant, BatchRecords: 10, OnResult: func(ingest.Result) { reported++ }}
	var st ingest.Stats
	err := im.Import(context.Background(), "calls", &out, &st)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v", err)
	}
	n, _ := store.CountRecords(context.Background(), callvault.RecordQuery{Tenant: tenant})
	if st.Records != 10 || reported != 10 || n != 10 {
		t.Errorf("counted %d, reported %d, stored %d; want 10 each", st.Records, reported, n)
	}
}

// A rejected record is reported with its line, in order among the others,
// and a broken line does not stop the stream.
func TestImportRejectsInStreamOrder(t *testing.T) {
	good := func(id string) string { return string(synth.RecordWithSessions(tenant, 1, id, 2)) }
	in := strings.Join([]string{good("a"), `{"id":`, good("b"), `{"id":"c","version":1,"bogus":1}`, good("d")}, "\n")
	var got []string
	im := &ingest.Importer{Store: openDB(t), Tenant: tenant, OnResult: func(r ingest.Result) {
		if r.Err != nil {
			got = append(got, "reject@"+string(rune('0'+r.Line)))
		} else {
			got = append(got, r.ID+"@"+string(rune('0'+r.Line)))
		}
	}}
	var rejects []ingest.Rejection
	im.OnReject = func(r ingest.Rejection) { rejects = append(rejects, r) }
	var st ingest.Stats
	if err := im.Import(context.Background(), "in.jsonl", strings.NewReader(in), &st); err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(got, " "); s != "a@1 reject@2 b@3 reject@4 d@5" {
		t.Errorf("results: %s", s)
	}
	if len(rejects) != 2 || !strings.HasPrefix(rejects[1].Error(), "in.jsonl:4: $.bogus: ") {
		t.Errorf("rejections: %v", rejects)
	}
}

// A meeting of 10,000 participants, the most Teams takes, goes through.
func TestTheLargestMeetingImports(t *testing.T) {
	if testing.Short() {
		t.Skip("a 10,000-session record")
	}
	raw := synth.RecordWithSessions(tenant, 5, "town-hall", 10000)
	var st ingest.Stats
	im := &ingest.Importer{Store: openDB(t), Tenant: tenant, OnReject: func(r ingest.Rejection) { t.Error(r) }}
	if err := im.Import(context.Background(), "big", bytes.NewReader(raw), &st); err != nil {
		t.Fatal(err)
	}
	if st.Sessions != 10000 {
		t.Errorf("%d sessions", st.Sessions)
	}
}

// The bytes in flight are bounded by a budget of three batches; an object
// larger than a batch is charged one batch, so a stream of them, with
// report rows and rejects between, still flows, and stops cleanly when
// the store fails.
func TestImportWithRecordsLargerThanABatch(t *testing.T) {
	var out bytes.Buffer
	gen, err := synth.Write(&out, synth.Config{Tenant: tenant, Seed: 5, Records: 60})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(out.String(), "\n"), "\n")
	lines[len(lines)-1] += "\n"
	var in strings.Builder
	for i, l := range lines {
		in.WriteString(l)
		if i%7 == 3 {
			in.WriteString("{\"id\": 1}\n") // a reject between records
		}
	}
	ctx := context.Background()
	for _, records := range []int{1, 2, 1000} {
		db := openDB(t)
		im := &ingest.Importer{Store: db, Tenant: tenant, BatchBytes: 64, BatchRecords: records}
		var st ingest.Stats
		if err := im.Import(ctx, "calls", strings.NewReader(in.String()), &st); err != nil {
			t.Fatal(err)
		}
		if st.Inserted != gen.Records || st.Rejected != len(lines)/7+1 {
			t.Errorf("batches of %d: %+v, want %d inserted", records, st, gen.Records)
		}

		failing := &failingStore{DB: openDB(t)}
		im = &ingest.Importer{Store: failing, Tenant: tenant, BatchBytes: 64, BatchRecords: records}
		if err := im.Import(ctx, "calls", strings.NewReader(in.String()), &st); err == nil && records < 1000 {
			t.Errorf("batches of %d: a failing store, and no error", records)
		}
	}
}
