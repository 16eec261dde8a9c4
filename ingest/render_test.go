package ingest_test

import (
	"bytes"
	"testing"

	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/synth"
)

// Scripts decides what CompileScripts stores at import: it says unchanged
// only for those very scripts.
func TestScriptsAreThoseOfAnImport(t *testing.T) {
	rec, err := ingest.NewNormalizer().Record("t", synth.RecordWithSessions("t", 2, "r", 3))
	if err != nil {
		t.Fatal(err)
	}
	ingest.CompileScripts(rec)
	type row struct {
		kind         string
		body, render []byte
	}
	var rows []row
	for _, s := range rec.Sessions {
		rows = append(rows, row{ingest.KindSession, s.Body, s.Render})
		for _, g := range s.Segments {
			rows = append(rows, row{ingest.KindSegment, g.Body, g.Render})
		}
	}
	for _, r := range rows {
		if r.render == nil {
			t.Fatalf("%s %s has no scripts", r.kind, r.body)
		}
		if got, changed := ingest.Scripts(r.kind, r.body, r.render); changed || !bytes.Equal(got, r.render) {
			t.Errorf("%s with its import's scripts: changed %v", r.kind, changed)
		}
		stale := bytes.Clone(r.render)
		stale[len(stale)/2] ^= 1
		for _, old := range [][]byte{nil, []byte("x"), stale, r.render[:len(r.render)-1]} {
			if got, changed := ingest.Scripts(r.kind, r.body, old); !changed || !bytes.Equal(got, r.render) {
				t.Errorf("%s with scripts %q: %q, changed %v; want the import's, changed", r.kind, old, got, changed)
			}
		}
		// The scripts of another kind's type are not these.
		other := ingest.KindSegment
		if r.kind == other {
			other = ingest.KindSession
		}
		if got, _ := ingest.Scripts(other, r.body, nil); bytes.Equal(got, r.render) {
			t.Errorf("%s: the scripts of a %s are the same", r.kind, other)
		}
	}
	body := rows[0].body
	if got, changed := ingest.Scripts("participant", body, nil); got != nil || changed {
		t.Errorf("an unknown kind without scripts: %q, %v", got, changed)
	}
	if got, changed := ingest.Scripts("participant", body, []byte("x")); got != nil || !changed {
		t.Errorf("an unknown kind with scripts: %q, %v; want none, changed", got, changed)
	}
}
