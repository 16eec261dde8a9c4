// Package synth generates realistic call records in the wire shape of the
// Microsoft Graph callRecords API (namespace microsoft.graph.callRecords),
// deterministically: the same Config always gives the same bytes.
//
// Each record is what GET /beta/communications/callRecords/{id}?$expand=
// sessions($expand=segments) returns, without @odata.context annotations:
// the callRecord's properties, organizer_v2, participants_v2 and sessions
// with their segments, media and streams. Only properties declared in the
// beta CSDL appear, plus the dynamic properties Graph itself sends on open
// types: tenantId on identities and the Boolean tokens of a feedback.
// Endpoints and user agents always carry their @odata.type, first.
//
// Values follow Graph's serialization: DateTimeOffsets in UTC with up to
// seven fraction digits, Durations in ISO 8601, Int64 and Single as JSON
// numbers. Header values of user agents and service agents are plausible
// inventions, not copies of real telemetry.
package synth

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"time"
)

// Config says what Write generates.
type Config struct {
	// Tenant is the tenant id (a GUID) every record belongs to.
	Tenant string
	// Seed selects the data; with Tenant it fixes every byte.
	Seed int64
	// Records is how many call records to write.
	Records int
	// From and To bound the records: calls start at or after From and end
	// by To; lastModifiedDateTime may not pass To either. A zero From is a
	// week before To; a zero To a week after From; both zero is the week
	// of Monday 3 August 2026 (UTC).
	From, To time.Time
	// Mix holds the distributions; the zero Mix means DefaultMix().
	Mix Mix

	// Revisions makes the records that late data updated (version 2 or
	// more, Mix.UpdatedShare) come twice, as Graph's do: first the version
	// before (one less, without the sessions whose client data came late,
	// modified minutes after the call), in start order; then, after up to
	// 200 further records, the record again at its final version. Importing
	// the stream in order leaves every record at its final version.
	Revisions bool
	// PSTN and DirectRouting, when not nil, receive as JSON Lines the rows
	// of getPstnCalls and getDirectRoutingCalls that match the phone legs
	// of the calls: one row for each session of a phone participant (see
	// Mix.DirectRoutingShare). Each row names its type with "@odata.type".
	PSTN, DirectRouting io.Writer
	// OnRecord, when not nil, is called after each record, for progress.
	OnRecord func(Stats)
}

// Stats counts what Write wrote.
type Stats struct {
	Records  int   // call records (lines)
	Sessions int   // sessions in all records
	Segments int   // segments in all sessions
	Streams  int   // media streams in all segments
	Bytes    int64 // bytes written, newlines included

	Revisions     int // records written twice (Config.Revisions): lines are Records, calls Records − Revisions
	PSTNRows      int // rows written to Config.PSTN
	DirectRouting int // rows written to Config.DirectRouting
}

// defaultFrom starts the window of a Config without one (a Monday).
var defaultFrom = time.Date(2026, 8, 3, 0, 0, 0, 0, time.UTC)

const week = 7 * 24 * time.Hour

// Write writes cfg.Records call records to w as JSON Lines, one compact
// record per line, in ascending startDateTime. It streams: memory stays
// bounded by the largest record, whatever cfg.Records is.
func Write(w io.Writer, cfg Config) (Stats, error) {
	var st Stats
	mix := cfg.Mix
	if mix == (Mix{}) {
		mix = DefaultMix()
	}
	from, to, err := cfg.window()
	if err != nil {
		return st, err
	}
	if err := mix.validate(); err != nil {
		return st, err
	}
	g := newGen(cfg.Tenant, cfg.Seed, mix, to, nil)
	// Starts end 10 s early so that the last calls fit without moving.
	starts := newStartTimes(newRNG(g.seed, keyStarts, 0), newProfile(mix.UTCOffset), from, to.Add(-10*time.Second), cfg.Records)
	bw := bufio.NewWriterSize(w, 64<<10)
	var e, pstn, direct enc
	emit := func(i int, rec *record) error {
		e.reset()
		g.write(&e, rec, &st)
		e.b = append(e.b, '\n')
		n, err := bw.Write(e.b)
		st.Bytes += int64(n)
		if err != nil {
			return fmt.Errorf("synth: write record %d: %w", i, err)
		}
		if cfg.OnRecord != nil {
			cfg.OnRecord(st)
		}
		return nil
	}
	// The final versions still to come (Config.Revisions), by the record
	// after which each comes.
	var due []revision
	revs := newRNG(g.seed, keyRevisions, 0)
	for i := range cfg.Records {
		spec := anySpec(uint64(i), starts.next())
		rec := g.plan(spec)
		if cfg.PSTN != nil || cfg.DirectRouting != nil {
			if err := g.writeRows(uint64(i), rec, cfg, &pstn, &direct, &st); err != nil {
				return st, err
			}
		}
		if cfg.Revisions && rec.version > 1 {
			due = append(due, revision{after: i + 1 + revs.IntN(200), index: i, spec: spec})
			rec = g.earlier(rec)
			st.Revisions++
		}
		if err := emit(i, rec); err != nil {
			return st, err
		}
		for len(due) > 0 && due[0].after <= i {
			if err := emit(due[0].index, g.plan(due[0].spec)); err != nil {
				return st, err
			}
			due = due[1:]
		}
		// Keep the queue in order of coming; it holds a few hundred at most.
		slices.SortStableFunc(due, func(a, b revision) int { return a.after - b.after })
	}
	for _, rv := range due {
		if err := emit(rv.index, g.plan(rv.spec)); err != nil {
			return st, err
		}
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("synth: flush: %w", err)
	}
	return st, nil
}

// revision is a record's final version, due after the record at index
// after.
type revision struct {
	after, index int
	spec         recordSpec
}

// keyRevisions keeps the draws of when final versions come apart from the
// records' own.
const keyRevisions = 0x7265766973 // "revis"

// earlier returns the version of rec before its last update: one version
// less, without the last third of its participant sessions (whose client
// data came late) and their feedback, modified minutes after the call.
// rec is not used again: its final version is planned anew when it comes.
func (g *gen) earlier(rec *record) *record {
	e := *rec
	e.version--
	if n := len(e.sessions); n > 1 {
		e.sessions = e.sessions[:max(1, n-n/3)]
	}
	for _, s := range e.sessions {
		s.feedback = nil
	}
	e.modified = later(rec.end.Add(ticks(rec.r.between(180, 900))), rec.end)
	if limit := later(rec.end, g.to); e.modified.After(limit) {
		e.modified = limit
	}
	return &e
}

// writeRows writes the report rows of rec's phone legs.
func (g *gen) writeRows(index uint64, rec *record, cfg Config, pstn, direct *enc, st *Stats) error {
	pstn.reset()
	direct.reset()
	g.reportRows(index, rec, pstn, direct)
	for _, out := range []struct {
		w     io.Writer
		e     *enc
		count *int
	}{{cfg.PSTN, pstn, &st.PSTNRows}, {cfg.DirectRouting, direct, &st.DirectRouting}} {
		if len(out.e.b) == 0 {
			continue
		}
		*out.count += bytes.Count(out.e.b, []byte{'\n'})
		if out.w == nil {
			continue
		}
		if _, err := out.w.Write(out.e.b); err != nil {
			return fmt.Errorf("synth: write report rows: %w", err)
		}
	}
	return nil
}

func (cfg Config) window() (from, to time.Time, err error) {
	if cfg.Tenant == "" {
		return from, to, fmt.Errorf("synth: Config.Tenant is empty")
	}
	if cfg.Records < 0 {
		return from, to, fmt.Errorf("synth: Config.Records is %d", cfg.Records)
	}
	from, to = cfg.From.UTC(), cfg.To.UTC()
	switch {
	case cfg.From.IsZero() && cfg.To.IsZero():
		from, to = defaultFrom, defaultFrom.Add(week)
	case cfg.From.IsZero():
		from = to.Add(-week)
	case cfg.To.IsZero():
		to = from.Add(week)
	}
	if to.Sub(from) < time.Minute {
		return from, to, fmt.Errorf("synth: Config window %s to %s is shorter than a minute", from, to)
	}
	return from, to, nil
}

// RecordWithSessions returns one record (compact JSON, no newline) with
// exactly sessions sessions, each of one to three segments, drawn with
// DefaultMix in the default week. One session makes a peer-to-peer call;
// any other number a group call whose first session, from three on, is the
// conferencing announcement service's. An empty id draws one.
func RecordWithSessions(tenant string, seed int64, id string, sessions int) []byte {
	to := defaultFrom.Add(week)
	g := newGen(tenant, seed, DefaultMix(), to, nil)
	start := newStartTimes(newRNG(g.seed, keyStarts, 0), newProfile(0), defaultFrom, to, 1).next()
	spec := anySpec(0, start)
	spec.id, spec.sessions = id, max(sessions, 0)
	var e enc
	g.write(&e, g.plan(spec), &Stats{})
	return e.b
}
