package export_test

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/export"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
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
	n, err := export.Streams(t.Context(), a, tenant, from, from.AddDate(0, 0, 8), nil, &buf)
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
