// Package export writes a tenant's call records for the tools people
// already use: the classified streams, the calls and the PSTN rows as flat
// CSV or Parquet (CQD-like column names for the streams, Graph's for the
// others), and the lossless archive of the records in Graph's wire shape (JSON
// Lines, gzip, one file per day of startDateTime), which callvault import
// and the ingest API read back, incremental by lastModifiedDateTime.
package export

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/analytics"
	"github.com/callvault/callvault/schema"
)

// streamColumns are the columns of Streams: CQD's names where CQD has the
// measure or dimension, callrecord-insights' for the keys. Only the
// metrics are nullable: a stream that does not report one has none.
var streamColumns = func() []column {
	cols := []column{
		{"CallId", text, notNull}, {"SessionSeq", integer32, notNull}, {"SegmentSeq", integer32, notNull}, {"StreamSeq", integer32, notNull},
		{"StartTime", instant, notNull}, {"MediaType", text, notNull}, {"MediaLabel", text, notNull}, {"StreamDirection", text, notNull},
		{"FirstIsCaller", boolean, notNull}, {"Classification", text, notNull}, {"PoorDueTo", text, notNull},
		{"JitterMs", decimal, nullable}, {"RoundTripMs", decimal, nullable}, {"PacketLossRate", decimal, nullable},
		{"AudioDegradationAvg", decimal, nullable}, {"RatioConcealedSamplesAvg", decimal, nullable},
		{"VideoLocalFrameLossPercentageAvg", decimal, nullable}, {"VideoFrameRateAvg", decimal, nullable}, {"VideoPostFecplr", decimal, nullable},
		{"CallType", text, notNull}, {"IsPstn", boolean, notNull}, {"IsConference", boolean, notNull},
	}
	for _, end := range []string{"First", "Second"} {
		for _, name := range []string{"EndpointKind", "EndpointName", "ServerRole", "Platform", "ProductFamily", "UserAgent", "ClientVersion",
			"UserId", "UserName", "NetworkConnectionDetail", "WifiBand", "Transport", "Subnet", "IpAddress", "BuildingName"} {
			cols = append(cols, column{end + name, text, notNull})
		}
	}
	return cols
}()

// StreamColumns are the names of Streams' columns, in order.
var StreamColumns = names(streamColumns)

// streamCells appends the cells of a stream's row, in streamColumns' order.
func streamCells(cells []cell, s *callvault.QualityStream, files *analytics.Files) []cell {
	cells = append(cells, s.RecordID, int64(s.SessionSeq), int64(s.SegmentSeq), int64(s.Seq),
		s.Start, s.Media, s.Label, s.Direction, s.FirstIsCaller,
		s.Class, joinReasons(s.PoorDue),
		s.JitterMs, s.RoundTripMs, s.PacketLoss, s.Degradation, s.Concealed,
		s.FrameLoss, s.FrameRate, s.PostFECPLR,
		s.CallType, s.PSTN, s.Conference)
	for _, e := range [...]*callvault.QualityEndpoint{&s.First, &s.Second} {
		cells = append(cells, e.Kind, e.Name, e.Role, e.Platform, e.Family, e.UserAgent, e.AppVersion, e.UserID, e.UserName,
			e.Connection, e.WifiBand, e.Transport, e.Subnet, e.IP, buildingName(files, e))
	}
	return cells
}

// Streams writes, as CSV or Parquet, the tenant's classified streams that
// start in [from, to), one row per stream, in start order, for DuckDB,
// pandas, Spark or a spreadsheet. files gives the building names (nil:
// none). In Parquet the metrics are nullable doubles, the flags booleans,
// the positions 32-bit integers and StartTime a UTC timestamp in
// nanoseconds, which Graph's seven decimals need.
func Streams(ctx context.Context, store callvault.QualityStore, tenant string, from, to time.Time, files *analytics.Files, f Format, w io.Writer) (int, error) {
	rows, files, err := sortedStreams(ctx, store, tenant, from, to, files)
	if err != nil {
		return 0, err
	}
	t, err := newTable(f, "streamRow", streamColumns, w)
	if err != nil {
		return 0, err
	}
	cells := make([]cell, 0, len(streamColumns))
	for i := range rows {
		if err := t.row(streamCells(cells[:0], &rows[i], files)); err != nil {
			return i, err
		}
	}
	return len(rows), t.close()
}

// sortedStreams reads the tenant's streams that start in [from, to), in
// start order, and the files to name their buildings by (never nil).
func sortedStreams(ctx context.Context, store callvault.QualityStore, tenant string, from, to time.Time, files *analytics.Files) ([]callvault.QualityStream, *analytics.Files, error) {
	if files == nil {
		files = &analytics.Files{}
	}
	var rows []callvault.QualityStream
	err := store.VisitQualityStreams(ctx, tenant, callvault.TimeRange{From: from, FromInclusive: true, To: to}, func(s *callvault.QualityStream) error {
		c := *s
		for _, p := range []**float64{&c.JitterMs, &c.RoundTripMs, &c.PacketLoss, &c.Degradation, &c.Concealed, &c.FrameLoss, &c.FrameRate, &c.PostFECPLR} {
			if *p != nil {
				v := **p
				*p = &v
			}
		}
		rows = append(rows, c)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := &rows[i], &rows[j]
		switch {
		case !a.Start.Equal(b.Start):
			return a.Start.Before(b.Start)
		case a.RecordID != b.RecordID:
			return a.RecordID < b.RecordID
		case a.SessionSeq != b.SessionSeq:
			return a.SessionSeq < b.SessionSeq
		case a.SegmentSeq != b.SegmentSeq:
			return a.SegmentSeq < b.SegmentSeq
		}
		return a.Seq < b.Seq
	})
	return rows, files, nil
}

// buildingName is the building of an endpoint in the building file, or "".
func buildingName(files *analytics.Files, e *callvault.QualityEndpoint) string {
	if bl := files.Buildings.Find(e.Subnet, e.IP); bl != nil {
		return bl.BuildingName
	}
	return ""
}

// joinReasons is CQD's Poor Due To of a stream, ";"-separated.
func joinReasons(d callvault.PoorDue) string { return strings.Join(reasons(d), ";") }

func reasons(d callvault.PoorDue) []string {
	names := []string{"Degradation", "RoundTrip", "PacketLoss", "Jitter", "ConcealedRatio", "LocalFrameLossPercentageAvg", "FrameRateAvg", "PostFecplr"}
	var out []string
	for i, n := range names {
		if d&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// ArchiveStats counts what Archive wrote.
type ArchiveStats struct {
	Records int
	Files   []string
	Latest  time.Time // the highest lastModifiedDateTime written; the next run's since
}

// Archive writes every record of the tenant whose lastModifiedDateTime is
// after since (zero: all), in Graph's wire shape as GET
// /beta/communications/callRecords/{id}?$expand=sessions($expand=segments)
// returns it, with participants_v2 and organizer_v2 inline: JSON Lines,
// gzip, one file per UTC day of startDateTime under
// dir/date=YYYY-MM-DD/, named by run so that a later run adds files
// beside. Importing the files (in any order) stores each record at its
// latest version.
func Archive(ctx context.Context, store callvault.Store, tenant string, since time.Time, dir, run string) (ArchiveStats, error) {
	var stats ArchiveStats
	type day struct {
		f  *os.File
		gz *gzip.Writer
	}
	days := map[string]*day{}
	closeAll := func() error {
		var first error
		for _, d := range days {
			if err := d.gz.Close(); err != nil && first == nil {
				first = err
			}
			if err := d.f.Close(); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	var after *callvault.RecordKey
	for {
		page, err := store.ListRecords(ctx, callvault.RecordQuery{Tenant: tenant, After: after, Limit: 200})
		if err != nil {
			closeAll()
			return stats, err
		}
		for i := range page.Records {
			h := &page.Records[i]
			after = &callvault.RecordKey{StartDateTime: h.StartDateTime, ID: h.ID}
			var meta struct {
				LastModified time.Time `json:"lastModifiedDateTime"`
			}
			_ = json.Unmarshal(h.Body, &meta)
			if !since.IsZero() && !meta.LastModified.After(since) {
				continue
			}
			line, err := wireRecord(ctx, store, tenant, h)
			if err != nil {
				closeAll()
				return stats, err
			}
			key := h.StartDateTime.UTC().Format(time.DateOnly)
			d := days[key]
			if d == nil {
				p := filepath.Join(dir, "date="+key)
				if err := os.MkdirAll(p, 0o755); err != nil {
					closeAll()
					return stats, err
				}
				name := filepath.Join(p, "records-"+run+".jsonl.gz")
				f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
				if err != nil {
					closeAll()
					return stats, err
				}
				d = &day{f: f, gz: gzip.NewWriter(f)}
				days[key] = d
				stats.Files = append(stats.Files, name)
			}
			if _, err := d.gz.Write(append(line, '\n')); err != nil {
				closeAll()
				return stats, err
			}
			stats.Records++
			if meta.LastModified.After(stats.Latest) {
				stats.Latest = meta.LastModified
			}
		}
		if !page.More {
			break
		}
	}
	sort.Strings(stats.Files)
	return stats, closeAll()
}

// wireRecord composes a record's wire shape from its stored bodies.
func wireRecord(ctx context.Context, store callvault.Store, tenant string, h *callvault.RecordHeader) ([]byte, error) {
	var b bytes.Buffer
	body := bytes.TrimSpace(h.Body)
	if len(body) < 2 || body[len(body)-1] != '}' {
		return nil, fmt.Errorf("record %s: the stored body is not an object", h.ID)
	}
	b.Write(body[:len(body)-1])
	sep := func() {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
	}
	if h.Organizer != nil {
		sep()
		b.WriteString(`"organizer_v2":`)
		b.Write(h.Organizer)
	}
	sep()
	b.WriteString(`"participants_v2":[`)
	for after, n := int64(0), 0; ; {
		page, err := store.ListParticipants(ctx, callvault.ParticipantQuery{Tenant: tenant, RecordID: h.ID, After: after, Limit: 130})
		if err != nil {
			return nil, err
		}
		for _, p := range page.Participants {
			if n > 0 {
				b.WriteByte(',')
			}
			b.Write(p.Body)
			after, n = p.Seq, n+1
		}
		if !page.More {
			break
		}
	}
	b.WriteString(`],"sessions":[`)
	for after, n := int64(0), 0; ; {
		page, err := store.ListSessions(ctx, callvault.SessionQuery{Tenant: tenant, RecordID: h.ID, After: after, Limit: 60, Segments: true})
		if err != nil {
			return nil, err
		}
		for _, s := range page.Sessions {
			if n > 0 {
				b.WriteByte(',')
			}
			writeWithArray(&b, s.Body, "segments", func(w *bytes.Buffer) {
				for j, g := range s.Segments {
					if j > 0 {
						w.WriteByte(',')
					}
					w.Write(g.Body)
				}
			})
			after, n = s.Seq, n+1
		}
		if !page.More {
			break
		}
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}

// writeWithArray writes the object body with one more member, an array.
func writeWithArray(b *bytes.Buffer, body []byte, name string, items func(*bytes.Buffer)) {
	body = bytes.TrimSpace(body)
	b.Write(body[:len(body)-1])
	if len(bytes.TrimSpace(body[1:len(body)-1])) > 0 {
		b.WriteByte(',')
	}
	b.WriteString(`"` + name + `":[`)
	items(b)
	b.WriteString("]}")
}

// callColumns are the columns of Calls: one row per call record, under
// Graph's property names.
var callColumns = []column{
	{"id", text, nullable}, {"version", integer, nullable}, {"type", text, nullable}, {"modalities", text, nullable},
	{"startDateTime", instant, nullable}, {"endDateTime", instant, nullable}, {"lastModifiedDateTime", instant, nullable}, {"joinWebUrl", text, nullable},
	{"organizerId", text, nullable}, {"organizerDisplayName", text, nullable}, {"sessionCount", integer, nullable}, {"participantCount", integer, nullable},
}

// CallColumns are the names of Calls' columns, in order.
var CallColumns = names(callColumns)

func names(cols []column) []string {
	n := make([]string, len(cols))
	for i, c := range cols {
		n[i] = c.name
	}
	return n
}

// CallStats counts what Calls or PSTN wrote.
type CallStats struct {
	Rows   int
	Latest time.Time // the highest lastModifiedDateTime (PSTN: startDateTime) written; the next run's since
}

// Calls writes, as CSV or Parquet, a row for each of the tenant's call
// records whose lastModifiedDateTime is after since (zero: all), in the
// order of their start: a daily job exports what changed since its last
// run, and a record updated by late data comes again with its new version.
func Calls(ctx context.Context, store callvault.Store, tenant string, since time.Time, f Format, w io.Writer) (CallStats, error) {
	var stats CallStats
	t, err := newTable(f, "callRecord", callColumns, w)
	if err != nil {
		return stats, err
	}
	cells := make([]cell, len(callColumns))
	var after *callvault.RecordKey
	for {
		page, err := store.ListRecords(ctx, callvault.RecordQuery{Tenant: tenant, After: after, Limit: 200})
		if err != nil {
			return stats, err
		}
		for i := range page.Records {
			h := &page.Records[i]
			after = &callvault.RecordKey{StartDateTime: h.StartDateTime, ID: h.ID}
			var rec struct {
				Type         string    `json:"type"`
				Modalities   []string  `json:"modalities"`
				LastModified time.Time `json:"lastModifiedDateTime"`
				JoinWebURL   string    `json:"joinWebUrl"`
			}
			_ = json.Unmarshal(h.Body, &rec)
			if !since.IsZero() && !rec.LastModified.After(since) {
				continue
			}
			var org struct {
				ID       string `json:"id"`
				Identity struct {
					User struct {
						DisplayName string `json:"displayName"`
					} `json:"user"`
				} `json:"identity"`
			}
			if h.Organizer != nil {
				_ = json.Unmarshal(h.Organizer, &org)
			}
			cells = append(cells[:0], h.ID, h.Version, rec.Type, joinList(rec.Modalities),
				h.StartDateTime, h.EndDateTime, rec.LastModified, rec.JoinWebURL,
				org.ID, org.Identity.User.DisplayName, int64(h.Sessions), int64(h.Participants))
			if err := t.row(cells); err != nil {
				return stats, err
			}
			stats.Rows++
			if rec.LastModified.After(stats.Latest) {
				stats.Latest = rec.LastModified
			}
		}
		if !page.More {
			break
		}
	}
	return stats, t.close()
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// pstnColumns are the columns of PSTN: the properties of Graph's
// pstnCallLogRow, as getPstnCalls returns them, in the v1.0 schema's order
// and with its types.
var pstnColumns = func() []column {
	t := schema.MustLoad(schema.V1).Type(pstnType)
	cols := make([]column, 0, len(t.Properties))
	for _, p := range t.Properties {
		k := text
		switch p.Type.Name {
		case schema.EdmInt32, schema.EdmInt64:
			k = integer
		case schema.EdmDecimal, schema.EdmDouble, schema.EdmSingle:
			k = decimal
		case schema.EdmDateTimeOffset:
			k = instant
		case schema.EdmBoolean:
			k = boolean
		}
		cols = append(cols, column{p.Name, k, nullable})
	}
	return cols
}()

// pstnType is the complex type of a getPstnCalls row.
const pstnType = "microsoft.graph.callRecords.pstnCallLogRow"

// PSTNColumns are the names of PSTN's columns, in order.
var PSTNColumns = names(pstnColumns)

// PSTNKind is the report row kind PSTN exports.
const PSTNKind = "pstnCallLogRow"

// PSTN writes, as CSV or Parquet, the tenant's PSTN call rows
// (getPstnCalls) whose startDateTime is after since (zero: all), in time
// order. A row of getPstnCalls does not change once Graph reports it, so a
// daily job exports the rows of calls that started since its last run.
func PSTN(ctx context.Context, store callvault.Store, tenant string, since time.Time, f Format, w io.Writer) (CallStats, error) {
	var stats CallStats
	t, err := newTable(f, PSTNKind, pstnColumns, w)
	if err != nil {
		return stats, err
	}
	cells := make([]cell, len(pstnColumns))
	q := callvault.ReportQuery{Tenant: tenant, Kind: PSTNKind, Range: callvault.TimeRange{From: since}, Limit: 500}
	for {
		page, err := store.ListReportRows(ctx, q)
		if err != nil {
			return stats, err
		}
		for _, body := range page.Rows {
			var row map[string]json.RawMessage
			if err := json.Unmarshal(body, &row); err != nil {
				return stats, fmt.Errorf("a stored %s is not an object: %w", PSTNKind, err)
			}
			for i, c := range pstnColumns {
				cells[i] = row[c.name]
			}
			if err := t.row(cells); err != nil {
				return stats, err
			}
			stats.Rows++
			var start time.Time
			_ = json.Unmarshal(row["startDateTime"], &start)
			if start.After(stats.Latest) {
				stats.Latest = start
			}
		}
		if !page.More {
			break
		}
		q.Offset += len(page.Rows)
	}
	return stats, t.close()
}

// scalarText is a JSON scalar as CSV text: a string unquoted, a number or
// boolean as written, null or absent empty.
func scalarText(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	var s string
	if v[0] == '"' && json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}
