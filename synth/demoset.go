package synth

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"time"
)

// DemoDays is how many days of calls WriteDemo spans: the days before the
// day of DemoConfig.Now.
const DemoDays = 28

// DemoNamedRecords is how many named records WriteDemo writes besides the
// generated calls: those of Demo, the meeting DemoMeetingID among them.
const DemoNamedRecords = 12

// demoIndex numbers the random streams of WriteDemo's named records apart
// from those of its generated calls (0 to Records-1).
const demoIndex = 1 << 40

// DemoConfig says what WriteDemo and WriteDemoRows generate.
type DemoConfig struct {
	// Now anchors the data set: its calls lie in the DemoDays whole days
	// (UTC) before the day of Now, which DemoWindow gives. synth never reads
	// the clock: the caller passes the time (callvault serve --demo passes
	// the time it seeds), and a data set keeps the dates of the day it was
	// generated on.
	Now time.Time
	// Seed selects the data; with Now and Records it fixes every byte. The
	// ids of records and rows do not depend on Now.
	Seed int64
	// Records is how many calls to draw from DefaultMix, besides the
	// DemoNamedRecords named records of the demo.
	Records int
	// OnRecord, when not nil, is called after each record WriteDemo writes,
	// for progress.
	OnRecord func(Stats)
}

// DemoWindow returns the days a demo data set anchored at now spans: from
// DemoDays days before now's day (UTC) to the start of that day.
func DemoWindow(now time.Time) (from, to time.Time) {
	to = now.UTC().Truncate(24 * time.Hour)
	return to.Add(-DemoDays * 24 * time.Hour), to
}

// DemoWindowOf returns the DemoWindow of the data set whose DemoMeetingID
// record starts at meetingStart: what a data set seeded on an earlier day
// spans. For the data set of Demo it is February 2020, which holds it.
func DemoWindowOf(meetingStart time.Time) (from, to time.Time) {
	// The meeting is on the second of the five days before the anchor.
	return DemoWindow(meetingStart.UTC().Truncate(24 * time.Hour).Add(4 * 24 * time.Hour))
}

// WriteDemo writes the demo data set's call records for tenant DemoTenant
// to w as JSON Lines: cfg.Records calls drawn from DefaultMix over the
// DemoWindow of cfg.Now, in ascending startDateTime, as Write draws them
// (the demo's users, those of Demo, open the directory), then the named
// records of Demo, moved to the last five days of the window: the call of
// Graph's examples (DemoCallID), DemoACSCallID, DemoFailedCallID and the
// others, and last the meeting DemoMeetingID with its 150 sessions. The
// meeting comes last so that, once the stream is imported in order, its
// presence says the whole set is there. Each record comes once, at its
// final version.
func WriteDemo(w io.Writer, cfg DemoConfig) (Stats, error) {
	var st Stats
	bw := bufio.NewWriterSize(w, 64<<10)
	var e enc
	err := demoRecords(cfg, func(_ uint64, g *gen, rec *record) error {
		e.reset()
		g.write(&e, rec, &st)
		e.b = append(e.b, '\n')
		n, err := bw.Write(e.b)
		st.Bytes += int64(n)
		if err != nil {
			return fmt.Errorf("synth: write demo record %s: %w", rec.id, err)
		}
		if cfg.OnRecord != nil {
			cfg.OnRecord(st)
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("synth: flush: %w", err)
	}
	return st, nil
}

// WriteDemoRows writes to w, as JSON Lines, the rows of getPstnCalls and
// then those of getDirectRoutingCalls that match the phone legs of the
// calls WriteDemo writes with the same cfg (see Config.PSTN). Each row
// names its type with "@odata.type", so that one import reads both kinds.
// It plans the calls without writing them, which is cheap.
func WriteDemoRows(w io.Writer, cfg DemoConfig) (Stats, error) {
	var st Stats
	bw := bufio.NewWriterSize(w, 64<<10)
	var pstn, direct enc
	// The direct routing rows wait, so that each kind comes in one run.
	var directRows bytes.Buffer
	rows := Config{PSTN: bw, DirectRouting: &directRows}
	err := demoRecords(cfg, func(index uint64, g *gen, rec *record) error {
		return g.writeRows(index, rec, rows, &pstn, &direct, &st)
	})
	if err != nil {
		return st, err
	}
	if _, err := bw.Write(directRows.Bytes()); err != nil {
		return st, fmt.Errorf("synth: write report rows: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("synth: flush: %w", err)
	}
	return st, nil
}

// demoRecords plans the records of the demo data set in the order
// WriteDemo writes them and hands each to each, with the index of its
// random stream.
func demoRecords(cfg DemoConfig, each func(index uint64, g *gen, rec *record) error) error {
	if cfg.Now.IsZero() {
		return fmt.Errorf("synth: DemoConfig.Now is zero")
	}
	if cfg.Records < 0 {
		return fmt.Errorf("synth: DemoConfig.Records is %d", cfg.Records)
	}
	mix := DefaultMix()
	from, to := DemoWindow(cfg.Now)
	g := newGen(DemoTenant, cfg.Seed, mix, to, demoDirectory())
	// Starts end 10 s early so that the last calls fit without moving, as
	// in Write.
	starts := newStartTimes(newRNG(g.seed, keyStarts, 0), newProfile(mix.UTCOffset), from, to.Add(-10*time.Second), cfg.Records)
	for i := range cfg.Records {
		if err := each(uint64(i), g, g.plan(anySpec(uint64(i), starts.next()))); err != nil {
			return err
		}
	}
	// The named records fill the last five days; the call of Graph's
	// examples keeps its time of day, on the second of them.
	base := to.Add(-5 * 24 * time.Hour)
	if err := each(demoIndex+1, g, g.demoCall(base.Sub(demoWeek), demoIndex+1)); err != nil {
		return err
	}
	specs := demoSpecs(base, demoIndex)
	for _, s := range append(slices.Clone(specs[1:]), specs[0]) { // the meeting last
		if err := each(s.index, g, g.plan(s)); err != nil {
			return err
		}
	}
	return nil
}
