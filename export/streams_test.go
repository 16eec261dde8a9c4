package export_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/analytics"
	"github.com/callvault/callvault/export"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// streamStore is a QualityStore of the streams it is made of, which it
// visits last first, so that the export's sort is tested too.
type streamStore []callvault.QualityStream

func (s streamStore) VisitQualityStreams(_ context.Context, _ string, r callvault.TimeRange, fn func(*callvault.QualityStream) error) error {
	for i := len(s) - 1; i >= 0; i-- {
		if r.Contains(s[i].Start) {
			if err := fn(&s[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (streamStore) FillQuality(context.Context, callvault.QualityFunc, func(callvault.QualityStats)) (callvault.QualityStats, error) {
	return callvault.QualityStats{}, errors.ErrUnsupported
}
func (streamStore) PutTenantFile(context.Context, string, string, []byte) error {
	return errors.ErrUnsupported
}
func (streamStore) GetTenantFile(context.Context, string, string) ([]byte, error) { return nil, nil }

func metric(v float64) *float64 { return &v }

// fixedStreams are streams in export order that hold what a column can
// hold: both values of each flag, metrics reported and not, a time with
// Graph's seven decimals and one not in UTC, reasons joined, a building
// found, text CSV must quote.
func fixedStreams(t *testing.T) (streamStore, *analytics.Files) {
	t.Helper()
	buildings, err := analytics.ParseBuildings([]byte("192.168.1.0,USA/Seattle/SEATTLE-SEA-1,26,SEATTLE-SEA-1,Contoso,IT,Engineering,Seattle,98001,US,WA,MSUS,1,0,0\n"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 8, 4, 9, 30, 0, 123456700, time.UTC)
	client := callvault.QualityEndpoint{Kind: "client", Name: "LAPTOP-7", Platform: "windows", Family: "teams",
		UserAgent: "CallSignalingAgent (Teams 1.7)", AppVersion: "1.7.00.1234", UserID: "5f1c0a2e-0c4b-4a4e-9d1c-2b7f3f1d8a11",
		UserName: `Doe, "Jo"`, Connection: "wifi", WifiBand: "frequency50GHz", Transport: "udp", Subnet: "192.168.1.0", IP: "192.168.1.7"}
	server := callvault.QualityEndpoint{Kind: "server", Name: "MP-EU-3", Role: "mediationServer", Transport: "tcp", Subnet: "10.0.0.0", IP: "10.0.0.4"}
	return streamStore{
		{RecordID: "rec-a", SessionSeq: 1, SegmentSeq: 1, Seq: 1, Start: start, Media: callvault.MediaAudio, Label: "main-audio",
			Direction: "firstToSecond", FirstIsCaller: true, Class: callvault.ClassPoor, PoorDue: callvault.DueRoundTrip | callvault.DueJitter | callvault.DueConcealedRatio,
			JitterMs: metric(31.5), RoundTripMs: metric(612), PacketLoss: metric(0.0123456789), Degradation: metric(0.9), Concealed: metric(0.075),
			CallType: "peerToPeer", PSTN: true, First: client, Second: server},
		{RecordID: "rec-a", SessionSeq: 1, SegmentSeq: 1, Seq: 2, Start: start, Media: callvault.MediaAudio, Label: "main-audio",
			Direction: "secondToFirst", FirstIsCaller: true, Class: callvault.ClassGood, JitterMs: metric(4),
			CallType: "peerToPeer", PSTN: true, First: client, Second: server},
		{RecordID: "rec-b", SessionSeq: 12, SegmentSeq: 3, Seq: 7, Start: time.Date(2026, 8, 4, 13, 0, 0, 0, time.FixedZone("CEST", 2*3600)),
			Media: callvault.MediaVideo, Label: "main-video", Direction: "firstToSecond", Class: callvault.ClassPoor, PoorDue: callvault.DueFrameRate,
			FrameLoss: metric(3.5), FrameRate: metric(6.25), PostFECPLR: metric(1e-7), CallType: "groupCall", Conference: true,
			First: server, Second: client},
		{RecordID: "rec-c", SessionSeq: 1, SegmentSeq: 1, Seq: 1, Start: time.Date(2026, 8, 5, 0, 0, 0, 1, time.UTC),
			Media: callvault.MediaOther, Label: "data", Direction: "firstToSecond", Class: callvault.ClassUnclassified, CallType: "unknown"},
	}, &analytics.Files{Buildings: buildings}
}

// writeFixed exports the fixed streams in the format, all of them.
func writeFixed(t *testing.T, st streamStore, files *analytics.Files, f export.Format) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := export.Streams(t.Context(), st, tenant, time.Date(2026, 8, 4, 0, 0, 0, 0, time.UTC), time.Date(2026, 8, 6, 0, 0, 0, 0, time.UTC), files, f, &buf)
	if err != nil || n != len(st) {
		t.Fatalf("%d rows of %d, %v", n, len(st), err)
	}
	return buf.Bytes()
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n%s\nwant:\n%s", path, got, want)
	}
}

// The streams' CSV is pinned byte for byte: its readers (CQD-like
// dashboards, scripts) parse it by position and text.
func TestStreamsCSVIsGolden(t *testing.T) {
	st, files := fixedStreams(t)
	golden(t, "streams.csv.golden", writeFixed(t, st, files, export.CSV))
}

// The streams' Parquet file keeps its schema (names, order, physical and
// logical types, which columns are nullable) and Snappy, and holds the
// streams' values: read back with parquet-go's reader, the flags are
// booleans, the metrics not reported nulls, StartTime the instant in UTC
// nanoseconds.
func TestStreamsParquetHoldsTheStreams(t *testing.T) {
	st, files := fixedStreams(t)
	b := writeFixed(t, st, files, export.Parquet)
	n := len(st)
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "streams.parquet-schema.golden", []byte(f.Schema().String()+"\n"))
	for _, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Snappy {
				t.Errorf("column %v is compressed with %v", c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
	if lt := f.Schema().Fields()[4].Type().LogicalType(); lt == nil || lt.String() != "TIMESTAMP(isAdjustedToUTC=true,unit=NANOS)" {
		t.Errorf("StartTime's logical type %v", lt)
	}
	rows := make([]parquet.Row, n)
	if got, err := parquet.NewReader(bytes.NewReader(b)).ReadRows(rows); err != nil && !errors.Is(err, io.EOF) || got != n {
		t.Fatalf("read %d rows: %v", got, err)
	}
	col := func(name string) int { return slices.Index(export.StreamColumns, name) }
	for i, row := range rows {
		s := &st[i]
		cell := func(name string) parquet.Value { return row[col(name)] }
		if cell("CallId").String() != s.RecordID || cell("SessionSeq").Int32() != int32(s.SessionSeq) ||
			cell("SegmentSeq").Int32() != int32(s.SegmentSeq) || cell("StreamSeq").Int32() != int32(s.Seq) {
			t.Errorf("row %d: keys %v %v %v %v, want %+v", i, cell("CallId"), cell("SessionSeq"), cell("SegmentSeq"), cell("StreamSeq"), s)
		}
		if got := time.Unix(0, cell("StartTime").Int64()); !got.Equal(s.Start) {
			t.Errorf("row %d: StartTime %v, want %v", i, got, s.Start)
		}
		for name, want := range map[string]bool{"FirstIsCaller": s.FirstIsCaller, "IsPstn": s.PSTN, "IsConference": s.Conference} {
			if v := cell(name); v.Kind() != parquet.Boolean || v.Boolean() != want {
				t.Errorf("row %d: %s %v, want %v", i, name, v, want)
			}
		}
		for name, want := range map[string]*float64{"JitterMs": s.JitterMs, "RoundTripMs": s.RoundTripMs, "PacketLossRate": s.PacketLoss,
			"AudioDegradationAvg": s.Degradation, "RatioConcealedSamplesAvg": s.Concealed, "VideoLocalFrameLossPercentageAvg": s.FrameLoss,
			"VideoFrameRateAvg": s.FrameRate, "VideoPostFecplr": s.PostFECPLR} {
			if v := cell(name); want == nil && !v.IsNull() || want != nil && (v.Kind() != parquet.Double || v.Double() != *want) {
				t.Errorf("row %d: %s %v, want %v", i, name, v, want)
			}
		}
	}
	if got, want := rows[0][col("FirstBuildingName")].String(), "SEATTLE-SEA-1"; got != want {
		t.Errorf("FirstBuildingName %q, want %q", got, want)
	}
	// And the file says what the CSV says, value by value.
	want, err := csv.NewReader(bytes.NewReader(writeFixed(t, st, files, export.CSV))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for j := range export.StreamColumns {
		for i, v := range rows {
			if got := streamText(j, v[j]); got != want[i+1][j] {
				t.Errorf("row %d, %s: %q in Parquet, %q in the CSV", i, export.StreamColumns[j], got, want[i+1][j])
			}
		}
	}
}
