package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// capabilities are the optional capabilities of callvault.Store, by the
// name of their interface, in the order of the table in callvault's
// store.go. Each is run by Run, or by the Run function of its own named
// beside it.
var capabilities = []struct {
	name string
	has  func(callvault.Store) bool
}{
	{"BatchStore", has[callvault.BatchStore]},
	{"BulkLoader", has[callvault.BulkLoader]},
	{"SessionPageVisitor", has[callvault.SessionPageVisitor]},
	{"ScriptCompiler", has[callvault.ScriptCompiler]},
	{"SecretUpdater", has[callvault.SecretUpdater]}, // RunSecrets
	{"MigrationReporter", has[callvault.MigrationReporter]},
	{"Pinger", has[callvault.Pinger]},
	{"ReplicaReporter", has[callvault.ReplicaReporter]},
	{"BucketStore", has[callvault.BucketStore]},                       // RunBuckets
	{"MirrorStore", has[callvault.MirrorStore]},                       // RunMirror
	{"MirrorListingStore", has[callvault.MirrorListingStore]},         // RunMirror
	{"QualityStore", has[callvault.QualityStore]},                     // RunQuality
	{"QualityAggregator", has[callvault.QualityAggregator]},           // RunQuality
	{"QualityCallVisitor", has[callvault.QualityCallVisitor]},         // RunQuality
	{"QualityRollupRefresher", has[callvault.QualityRollupRefresher]}, // RunQuality
	{"SubscriptionStore", has[callvault.SubscriptionStore]},           // RunSubscriptions
	{"Outbox", has[callvault.Outbox]},                                 // RunSubscriptions
	{"DriftStore", has[callvault.DriftStore]},                         // RunDrift
}

func has[T any](st callvault.Store) bool {
	_, ok := st.(T)
	return ok
}

// Capabilities names the optional capabilities of callvault.Store that st
// has (callvault.BatchStore is "BatchStore"). A wrapper that embeds a Store
// has none of them unless it forwards them: a test of a wrapper compares
// its capabilities with those of the store it wraps.
func Capabilities(st callvault.Store) []string {
	var names []string
	for _, c := range capabilities {
		if c.has(st) {
			names = append(names, c.name)
		}
	}
	return names
}

// capable opens a store for the parallel subtest t, or skips t when the
// store does not have the capability T.
func capable[T any](s *suite, t *testing.T) (callvault.Store, T) {
	t.Helper()
	st := s.store(t)
	c, ok := st.(T)
	if !ok {
		t.Skipf("the store (%T) has no %T", st, (*T)(nil))
	}
	return st, c
}

func (s *suite) testCapabilities(t *testing.T) {
	t.Run("BatchStore: a batch stores each record as PutRecord would, refusing only the bad ones", s.testBatch)
	t.Run("BulkLoader: queries answer the same during a bulk load and after it", s.testBulk)
	t.Run("SessionPageVisitor: a visit hands over the page ListSessions reads", s.testVisit)
	t.Run("ScriptCompiler: compiled scripts are stored and served, and a second run changes nothing", s.testCompileScripts)
	t.Run("SecretUpdater: LoadOrCreateSecret creates a secret once and then loads it", s.testLoadOrCreateSecret)
	t.Run("MigrationReporter: the migrations applied are named once each", s.testApplied)
	t.Run("Pinger: an open store answers", s.testPing)
	t.Run("ReplicaReporter: each replica is named, with a reason when out of rotation", s.testReplicas)
}

func (s *suite) testBatch(t *testing.T) {
	st, bs := capable[callvault.BatchStore](s, t)
	ten := tenant(t, "a")
	spec := func(id string, version int64) recordSpec {
		return recordSpec{tenant: ten, id: id, version: version, sessions: 3, segments: one, salt: fmt.Sprint(version)}
	}
	bad := spec("bad", 1).record()
	bad.ID = "" // refused alone
	first := []*callvault.Record{spec("a", 2).record(), bad, spec("b", 2).record()}
	outcomes, errs, err := bs.PutRecords(t.Context(), first)
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	if len(outcomes) != len(first) || len(errs) != len(first) {
		t.Fatalf("PutRecords of %d records: %d outcomes, %d errors", len(first), len(outcomes), len(errs))
	}
	if outcomes[0] != callvault.Inserted || outcomes[2] != callvault.Inserted || errs[0] != nil || errs[2] != nil {
		t.Errorf("new records: outcomes %v, errors %v; want inserted", outcomes, errs)
	}
	if errs[1] == nil {
		t.Errorf("a record without an id was not refused (outcome %v)", outcomes[1])
	}

	// Versions decide, as for PutRecord: higher or equal replaces, lower is stale.
	second := []*callvault.Record{spec("a", 3).record(), spec("b", 1).record()}
	outcomes, errs, err = bs.PutRecords(t.Context(), second)
	if err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("PutRecords: %v %v", err, errs)
	}
	if outcomes[0] != callvault.Replaced || outcomes[1] != callvault.Stale {
		t.Errorf("outcomes %v, want [replaced stale]", outcomes)
	}
	for _, want := range []*callvault.Record{second[0], first[2]} {
		page := list(t, st, callvault.SessionQuery{Tenant: ten, RecordID: want.ID, Limit: 10, Segments: true})
		checkPage(t, page, want.Sessions, 0, true)
		if h := get(t, st, ten, want.ID); h.Version != want.Version {
			t.Errorf("record %s: version %d, want %d", want.ID, h.Version, want.Version)
		}
	}
}

func (s *suite) testBulk(t *testing.T) {
	st, bl := capable[callvault.BulkLoader](s, t)
	a := tenant(t, "a")
	var records []*callvault.Record
	for i := range 40 {
		ps := [][]string{{"x"}, {"y"}, {"x", "y", "x"}, {"z", "x"}}[i%4]
		start := base.Add(time.Duration(i%15) * time.Minute)
		records = append(records, listed(a, fmt.Sprintf("record-%02d", 39-i), start, start.Add(time.Hour), ps...))
	}
	putAll(t, st, records[:20]...)
	check := func(when string) {
		t.Helper()
		for _, q := range []callvault.RecordQuery{
			{Tenant: a, ParticipantID: "x"},
			{Tenant: a, ParticipantID: "y", Start: callvault.TimeRange{From: base.Add(3 * time.Minute), To: base.Add(9 * time.Minute), FromInclusive: true}},
			{Tenant: a, ParticipantID: "z"},
			{Tenant: a},
		} {
			for _, limit := range []int{1, 7, 100} {
				checkWalk(t, st, records, q, limit)
			}
		}
		if t.Failed() {
			t.Fatalf("the walks above failed %s", when)
		}
	}
	end, err := bl.BeginBulk(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if end == nil {
		t.Fatal("a store of 20 records declined a bulk load")
	}
	putAll(t, st, records[20:]...)
	check("during the bulk load")
	if err := end(t.Context()); err != nil {
		t.Fatalf("end: %v", err)
	}
	check("after its end")
	// Another load, on the same store, ends as well.
	end, err = bl.BeginBulk(t.Context())
	if err != nil || end == nil {
		t.Fatalf("a second bulk load: %v (declined: %v)", err, end == nil)
	}
	if err := end(t.Context()); err != nil {
		t.Fatalf("end of a second bulk load: %v", err)
	}
	check("after a second one")
}

// visited collects what VisitSessions hands over, copied (the bytes are the
// store's only during each call).
type visited struct {
	page callvault.SessionPage
	stop error // returned by Session when not nil
}

func (v *visited) Stamp(stamp int64) { v.page.Stamp = stamp }

func (v *visited) Session(seq int64, body, render []byte) error {
	if v.stop != nil {
		return v.stop
	}
	v.page.Sessions = append(v.page.Sessions, callvault.SessionRow{Seq: seq, Body: bytes.Clone(body), Render: bytes.Clone(render)})
	return nil
}

func (v *visited) Segment(body, render []byte) error {
	s := &v.page.Sessions[len(v.page.Sessions)-1]
	s.Segments = append(s.Segments, callvault.Segment{Body: bytes.Clone(body), Render: bytes.Clone(render)})
	return nil
}

func (s *suite) testVisit(t *testing.T) {
	st, vs := capable[callvault.SessionPageVisitor](s, t)
	spec := recordSpec{tenant: tenant(t, "a"), id: "visit", version: 1, sessions: 7, segments: func(seq int) int { return []int{0, 1, 3}[seq%3] }}
	put(t, st, withRender(spec.record(), "visit"))
	for _, q := range []callvault.SessionQuery{
		{Limit: 100, Segments: true},
		{Limit: 3, Segments: true},
		{After: 3, Limit: 3, Segments: true},
		{After: 6, Limit: 3},
		{After: 7, Limit: 3, Segments: true},
	} {
		q.Tenant, q.RecordID = spec.tenant, spec.id
		want := list(t, st, q)
		v := &visited{}
		more, err := vs.VisitSessions(t.Context(), q, v)
		if err != nil {
			t.Fatalf("%+v: VisitSessions: %v", q, err)
		}
		if more != want.More {
			t.Errorf("%+v: more %v, ListSessions says %v", q, more, want.More)
		}
		if !samePage(v.page.Sessions, want.Sessions) {
			t.Errorf("%+v: VisitSessions handed over\n%s\nListSessions read\n%s", q, showPage(v.page.Sessions), showPage(want.Sessions))
		}
		if v.page.Stamp != want.Stamp {
			t.Errorf("%+v: stamp %d, ListSessions says %d", q, v.page.Stamp, want.Stamp)
		}
		// A kept page's check: the stamp alone when it stands, the page when not.
		if want.Stamp == 0 {
			continue
		}
		q.Known = want.Stamp
		kept := &visited{}
		if more, err := vs.VisitSessions(t.Context(), q, kept); err != nil || more || kept.page.Stamp != want.Stamp || len(kept.page.Sessions) != 0 {
			t.Errorf("%+v: with the stamp known: stamp %d, %d sessions, more %v, %v; want the stamp alone", q, kept.page.Stamp, len(kept.page.Sessions), more, err)
		}
		q.Known = want.Stamp + 1
		changed := &visited{}
		if _, err := vs.VisitSessions(t.Context(), q, changed); err != nil || changed.page.Stamp != want.Stamp || !samePage(changed.page.Sessions, want.Sessions) {
			t.Errorf("%+v: with another stamp known: stamp %d, %d sessions, %v; want the page", q, changed.page.Stamp, len(changed.page.Sessions), err)
		}
	}

	q := callvault.SessionQuery{Tenant: spec.tenant, RecordID: "absent", Limit: 10}
	if _, err := vs.VisitSessions(t.Context(), q, &visited{}); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("an absent record: %v, want ENOTFOUND", err)
	}
	q.Tenant, q.RecordID = tenant(t, "b"), spec.id
	if _, err := vs.VisitSessions(t.Context(), q, &visited{}); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("another tenant's record: %v, want ENOTFOUND", err)
	}
	stop := errors.New("the visitor stops")
	q.Tenant = spec.tenant
	if _, err := vs.VisitSessions(t.Context(), q, &visited{stop: stop}); !errors.Is(err, stop) {
		t.Errorf("a visitor's error: %v, want it returned", err)
	}
}

// samePage reports whether visited sessions are those listed, ids aside (a
// visit hands over none); no render script is read as nil or empty alike.
func samePage(got, want []callvault.SessionRow) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || !bytes.Equal(g.Body, w.Body) || !bytes.Equal(g.Render, w.Render) || len(g.Segments) != len(w.Segments) {
			return false
		}
		for j := range g.Segments {
			if !bytes.Equal(g.Segments[j].Body, w.Segments[j].Body) || !bytes.Equal(g.Segments[j].Render, w.Segments[j].Render) {
				return false
			}
		}
	}
	return true
}

// showPage writes sessions for a failure's message.
func showPage(rows []callvault.SessionRow) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%d %q %q\n", r.Seq, r.Body, r.Render)
		for _, g := range r.Segments {
			fmt.Fprintf(&b, "\tsegment %q %q\n", g.Body, g.Render)
		}
	}
	return b.String()
}

func (s *suite) testCompileScripts(t *testing.T) {
	st, sc := capable[callvault.ScriptCompiler](s, t)
	spec := recordSpec{tenant: tenant(t, "a"), id: "compile", version: 1, sessions: 3, segments: one}
	put(t, st, spec.record())
	// CompileScripts reads every tenant's rows: this one changes only ours,
	// as other subtests may share the store.
	ours := fmt.Appendf(nil, `"tenant":%q`, spec.tenant)
	fn := func(kind string, body, render []byte) ([]byte, bool) {
		if !bytes.Contains(body, ours) {
			return render, false
		}
		script := []byte("\x00compiled " + kind)
		return script, !bytes.Equal(render, script)
	}
	var progressed bool
	stats, err := sc.CompileScripts(t.Context(), fn, func(callvault.ScriptStats) { progressed = true })
	if err != nil {
		t.Fatalf("CompileScripts: %v", err)
	}
	if stats.Rows < 6 || stats.Changed != 6 {
		t.Errorf("read %d rows and changed %d, want 6 or more and 6", stats.Rows, stats.Changed)
	}
	if !progressed {
		t.Error("progress was never reported")
	}
	page := list(t, st, callvault.SessionQuery{Tenant: spec.tenant, RecordID: spec.id, Limit: 10, Segments: true})
	for _, row := range page.Sessions {
		if string(row.Render) != "\x00compiled session" || len(row.Segments) != 1 || string(row.Segments[0].Render) != "\x00compiled segment" {
			t.Fatalf("session %d after CompileScripts: render %q, segments %+v", row.Seq, row.Render, row.Segments)
		}
	}
	again, err := sc.CompileScripts(t.Context(), fn, nil)
	if err != nil || again.Changed != 0 {
		t.Errorf("a second run changed %d rows (%v), want none", again.Changed, err)
	}
}

func (s *suite) testLoadOrCreateSecret(t *testing.T) {
	_, su := capable[callvault.SecretUpdater](s, t)
	name := fmt.Sprintf("storetest-%s-%d", t.Name(), time.Now().UnixNano())
	refused := errors.New("no secret today")
	if _, err := callvault.LoadOrCreateSecret(t.Context(), su, name, func() ([]byte, error) { return nil, refused }); !errors.Is(err, refused) {
		t.Errorf("a create that fails: %v, want its error", err)
	}
	created := 0
	create := func() ([]byte, error) {
		created++
		return fmt.Appendf(nil, "secret %d \x00\xff", created), nil
	}
	first, err := callvault.LoadOrCreateSecret(t.Context(), su, name, create)
	if err != nil || string(first) != "secret 1 \x00\xff" {
		t.Fatalf("created %q, %v", first, err)
	}
	again, err := callvault.LoadOrCreateSecret(t.Context(), su, name, create)
	if err != nil || !bytes.Equal(again, first) || created != 1 {
		t.Errorf("loaded %q (%v) after creating %d times, want %q once", again, err, created, first)
	}
}

func (s *suite) testApplied(t *testing.T) {
	_, mr := capable[callvault.MigrationReporter](s, t)
	applied := mr.Applied()
	if slices.Contains(applied, "") {
		t.Errorf("an unnamed migration in %q", applied)
	}
	if sorted := slices.Compact(slices.Sorted(slices.Values(applied))); len(sorted) != len(applied) {
		t.Errorf("a migration named twice in %q", applied)
	}
	if got := mr.Applied(); !slices.Equal(got, applied) {
		t.Errorf("Applied changed from %q to %q", applied, got)
	}
}

func (s *suite) testPing(t *testing.T) {
	_, p := capable[callvault.Pinger](s, t)
	if err := p.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func (s *suite) testReplicas(t *testing.T) {
	_, rr := capable[callvault.ReplicaReporter](s, t)
	for _, r := range rr.Replicas() {
		if r.Name == "" || r.InRotation != (r.Reason == "") {
			t.Errorf("replica %+v: a name, and a reason exactly when out of rotation", r)
		}
	}
}
