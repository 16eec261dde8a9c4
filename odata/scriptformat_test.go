package odata_test

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/synth"
)

var update = flag.Bool("update", false, "rewrite testdata/script-format.golden")

// TestScriptFormatPinsTheOutput guards the scripts already stored in
// databases: they write what Object wrote when they were compiled, so a
// change to Object's default output must come with a new scriptFormat,
// which makes every old script refused (and its body merged). The golden
// file pins the format beside a hash of what Object writes of a fixed
// corpus, in both versions.
func TestScriptFormatPinsTheOutput(t *testing.T) {
	in, out := sha256.New(), sha256.New()
	n := ingest.NewNormalizer()
	var mix strings.Builder
	if _, err := synth.Write(&mix, synth.Config{Tenant: tenant, Seed: 11, Records: 40}); err != nil {
		t.Fatal(err)
	}
	raws := append(strings.Split(strings.TrimSpace(mix.String()), "\n"), string(synth.RecordWithSessions(tenant, 3, "", 40)))
	cs := codecs()
	for _, raw := range raws {
		r, err := n.Record(tenant, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		write := func(typ string, body []byte) {
			in.Write(body)
			for _, c := range cs {
				out.Write(c.Object(nil, typeOf(c, typ), body, nil, odata.Options{}, false))
			}
		}
		for _, s := range r.Sessions {
			write("session", s.Body)
			for _, g := range s.Segments {
				write("segment", g.Body)
			}
		}
	}
	got := fmt.Sprintf("format %s\ncorpus %s\noutput %s\n", odata.ScriptFormat, hex.EncodeToString(in.Sum(nil)), hex.EncodeToString(out.Sum(nil)))
	path := filepath.Join("testdata", "script-format.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./odata -run ScriptFormat -update writes it)", err)
	}
	want := strings.Split(string(b), "\n")
	have := strings.Split(got, "\n")
	switch {
	case len(want) < 3:
		t.Fatalf("%s is not three lines", path)
	case have[1] != want[1]:
		t.Fatalf("the corpus changed (synth or ingest writes other bodies): check the output did not, then go test ./odata -run ScriptFormat -update")
	case have[2] != want[2] && have[0] == want[0]:
		t.Fatalf("Object's default output changed but scriptFormat did not: scripts stored by earlier builds would still write the old output. Bump scriptFormat in odata/render.go, then go test ./odata -run ScriptFormat -update")
	case got != string(b):
		t.Fatalf("%s is out of date: go test ./odata -run ScriptFormat -update", path)
	}
}
