package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/synth"
)

// A seeding cut short (no meeting yet) is finished by the next start, on
// another day too, without doubling a record or a row; a seeded database
// is left alone.
func TestSeedDemoFinishesAPartialSeedingWithoutDuplicates(t *testing.T) {
	ctx := context.Background()
	store, err := openStore(ctx, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	day1 := time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)
	const records = 40

	// The rows and the first half of the records of day 1, as a crash would leave them.
	var rows, recs bytes.Buffer
	cfg := synth.DemoConfig{Now: day1.Truncate(24 * time.Hour), Seed: 1, Records: records}
	if _, err := synth.WriteDemoRows(&rows, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := synth.WriteDemo(&recs, cfg); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(recs.String(), "\n")
	var st ingest.Stats
	im := &ingest.Importer{Store: store, Tenant: synth.DemoTenant}
	for _, part := range []string{rows.String(), strings.Join(lines[:records/2], "")} {
		if err := im.Import(ctx, "partial", strings.NewReader(part), &st); err != nil || st.Rejected > 0 {
			t.Fatalf("partial import: %v, %+v", err, st)
		}
	}

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	day2 := day1.Add(3 * 24 * time.Hour)
	w, err := seedDemo(ctx, store, logger, day2, 1, records)
	if err != nil {
		t.Fatal(err)
	}
	if from, to := synth.DemoWindow(day2); !w.from.Equal(from) || !w.to.Equal(to) {
		t.Errorf("window %v..%v, want %v..%v", w.from, w.to, from, to)
	}
	count := func() (recs int64, pstn, direct int64) {
		t.Helper()
		all := callvault.TimeRange{}
		n, err := store.CountRecords(ctx, callvault.RecordQuery{Tenant: synth.DemoTenant})
		if err != nil {
			t.Fatal(err)
		}
		p, err := store.ListReportRows(ctx, callvault.ReportQuery{Tenant: synth.DemoTenant, Kind: "pstnCallLogRow", Range: all, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		d, err := store.ListReportRows(ctx, callvault.ReportQuery{Tenant: synth.DemoTenant, Kind: "directRoutingLogRow", Range: all, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		return n, p.Total, d.Total
	}
	n, pstn, direct := count()
	rowStats, _ := synth.WriteDemoRows(io.Discard, cfg)
	if n != records+synth.DemoNamedRecords || pstn != int64(rowStats.PSTNRows) || direct != int64(rowStats.DirectRouting) {
		t.Errorf("%d records, %d PSTN and %d direct routing rows; want %d, %d and %d", n, pstn, direct,
			records+synth.DemoNamedRecords, rowStats.PSTNRows, rowStats.DirectRouting)
	}

	// Seeded: a later start imports nothing and finds the days of day 2.
	logs.Reset()
	w, err = seedDemo(ctx, store, logger, day2.Add(10*24*time.Hour), 2, records*2)
	if err != nil {
		t.Fatal(err)
	}
	if from, to := synth.DemoWindow(day2); !w.from.Equal(from) || !w.to.Equal(to) {
		t.Errorf("window %v..%v of a seeded database, want %v..%v", w.from, w.to, from, to)
	}
	if n2, p2, d2 := count(); n2 != n || p2 != pstn || d2 != direct || !strings.Contains(logs.String(), "already seeded") {
		t.Errorf("a second seeding changed the counts to %d, %d, %d, or logged:\n%s", n2, p2, d2, logs.String())
	}
}
