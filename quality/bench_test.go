package quality_test

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/quality"
	"github.com/callvault/callvault/synth"
)

// BenchmarkRecord measures classification at import against the render
// scripts compiled beside it, per generated record.
func BenchmarkRecord(b *testing.B) {
	var buf bytes.Buffer
	if _, err := synth.Write(&buf, synth.Config{Tenant: "t", Seed: 4, Records: 200}); err != nil {
		b.Fatal(err)
	}
	n := ingest.NewNormalizer()
	var recs []*callvault.Record
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		r, err := n.Record("t", sc.Bytes())
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
	}
	b.Run("quality.Record", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			quality.Record(recs[i%len(recs)])
		}
	})
	b.Run("ingest.CompileScripts", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			ingest.CompileScripts(recs[i%len(recs)])
		}
	})
}
