package ingest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/jsonx"
	"github.com/callvault/callvault/synth"
)

var update = flag.Bool("update", false, "rewrite testdata/normalize-corpus.golden from the current Normalizer")

const corpusGolden = "testdata/normalize-corpus.golden"

// TestNormalizeCorpus pins what the Normalizer accepts, rejects and
// produces on generated records and thousands of mutations of them: every
// stored byte, every header field and every error's path and reason go into
// one digest per group, compared with testdata/normalize-corpus.golden
// (rewritten with -update). A change to the normalizer's implementation must
// leave every digest as it is. Each line also holds a digest of the group's
// inputs: when that one changed, the generator (package synth) did, and the
// outputs cannot be compared.
func TestNormalizeCorpus(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("the corpus takes a few seconds, and a few minutes with -race")
	}
	var got bytes.Buffer
	n := NewNormalizer()
	for _, g := range corpus(t) {
		ins, outs := sha256.New(), sha256.New()
		accepted := 0
		for _, in := range g.inputs {
			out, ok := outcome(n, in)
			if ok {
				accepted++
			}
			fmt.Fprintf(ins, "%s %d:%s\n", in.kind, len(in.raw), in.raw)
			fmt.Fprintf(outs, "%d:%s\n", len(out), out)
		}
		fmt.Fprintf(&got, "%s %d %d in:%s out:%s\n", g.name, len(g.inputs), accepted,
			hex.EncodeToString(ins.Sum(nil))[:12], hex.EncodeToString(outs.Sum(nil))[:16])
	}
	if *update {
		if err := os.WriteFile(corpusGolden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(corpusGolden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestNormalizeCorpus -update to create it)", err)
	}
	gotLines, wantLines := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
	if len(gotLines) != len(wantLines) {
		t.Fatalf("%d groups, want %d", len(gotLines), len(wantLines))
	}
	for i := range gotLines {
		if gotLines[i] == wantLines[i] {
			continue
		}
		if g, w := strings.Fields(gotLines[i]), strings.Fields(wantLines[i]); len(g) == 5 && len(w) == 5 && g[3] != w[3] {
			t.Errorf("the inputs of group %s changed (package synth?): check, then rewrite the golden file with -update", g[0])
			continue
		}
		t.Errorf("group changed:\n got  %s\n want %s", gotLines[i], wantLines[i])
	}
}

// input is one object for the Normalizer: a call record, or a report row
// of kind.
type input struct {
	kind string
	raw  []byte
}

type group struct {
	name   string
	inputs []input
}

// outcome describes everything the Normalizer made of in.
func outcome(n *Normalizer, in input) (string, bool) {
	var b strings.Builder
	if in.kind != "" {
		row, err := n.ReportRow(in.kind, in.raw)
		if err != nil {
			return "E " + err.Error(), false
		}
		fmt.Fprintf(&b, "W %s %s %s", row.Key, row.Time.Format(time.RFC3339Nano), row.Body)
		return b.String(), true
	}
	r, err := n.Record("tenant-a", in.raw)
	if err != nil {
		return "E " + err.Error(), false
	}
	writeRecord(&b, r)
	return b.String(), true
}

func writeRecord(b *strings.Builder, r *callvault.Record) {
	fmt.Fprintf(b, "R %s %s %d %s %s\nB %s\nO %s\n", r.Tenant, r.ID, r.Version,
		r.StartDateTime.Format(time.RFC3339Nano), r.EndDateTime.Format(time.RFC3339Nano), r.Body, r.Organizer)
	for _, s := range r.Sessions {
		fmt.Fprintf(b, "S %s %s\n", s.ID, s.Body)
		for _, g := range s.Segments {
			fmt.Fprintf(b, "G %s %s\n", g.ID, g.Body)
		}
	}
	for _, p := range r.Participants {
		fmt.Fprintf(b, "P %s %s\n", p.ID, p.Body)
	}
}

// corpus generates the inputs, the same on every run.
func corpus(t testing.TB) []group {
	var groups []group
	add := func(name string, ins []input) { groups = append(groups, group{name, ins}) }
	records := func(raw ...[]byte) []input {
		var ins []input
		for _, r := range raw {
			ins = append(ins, input{raw: r})
		}
		return ins
	}

	seed, err := os.ReadFile("testdata/seed-record.json")
	if err != nil {
		t.Fatal(err)
	}
	demo := lines(synth.Demo())
	add("demo", records(demo...))
	add("seed-record", records(seed))
	for _, s := range []int{0, 1, 2, 3, 7} {
		add("sessions-"+strconv.Itoa(s), records(synth.RecordWithSessions("9b1c2f4e-0b8a-4c9e-8f3a-5d6e7f8a9b0c", int64(s), "", s)))
	}
	for _, s := range []int64{1, 2, 3} {
		var out, pstn, direct bytes.Buffer
		cfg := synth.Config{Tenant: "9b1c2f4e-0b8a-4c9e-8f3a-5d6e7f8a9b0c", Seed: s, Records: 40, Revisions: s == 2, PSTN: &pstn, DirectRouting: &direct}
		if _, err := synth.Write(&out, cfg); err != nil {
			t.Fatal(err)
		}
		add(fmt.Sprintf("synth-%d", s), records(lines(out.Bytes())...))
		var rows []input
		for _, l := range append(lines(pstn.Bytes()), lines(direct.Bytes())...) {
			k, _ := ReportKind(l)
			rows = append(rows, input{kind: k, raw: l})
		}
		add(fmt.Sprintf("synth-%d-rows", s), rows)
	}

	// Mutations of a few records: the seed record (indented, escapes), a
	// demo meeting and a small generated call.
	bases := map[string][]byte{
		"seed":  seed,
		"demo3": demo[3],
		"gen2":  synth.RecordWithSessions("9b1c2f4e-0b8a-4c9e-8f3a-5d6e7f8a9b0c", 9, "", 2),
	}
	for _, name := range []string{"seed", "demo3", "gen2"} {
		base := bases[name]
		add(name+"-truncated", records(truncations(base)...))
		add(name+"-bytes", records(byteEdits(base)...))
		add(name+"-values", records(valueEdits(base)...))
		add(name+"-members", records(memberEdits(base)...))
		var indented bytes.Buffer
		if err := json.Indent(&indented, base, "", "  "); err != nil {
			t.Fatal(err)
		}
		add(name+"-indented", records(indented.Bytes(), append([]byte(" \t\r\n"), append(base, '\n', ' ')...)))
	}
	var rows []input
	for _, l := range lines(synthRows(t)) {
		k, _ := ReportKind(l)
		for _, m := range append(valueEdits(l), memberEdits(l)...) {
			rows = append(rows, input{kind: k, raw: m})
		}
		for _, m := range truncations(l) {
			rows = append(rows, input{kind: k, raw: m})
		}
		rows = append(rows, input{kind: "callRecord", raw: l}, input{kind: "nonsense", raw: l})
	}
	add("rows-mutated", rows)
	add("documents", records(documents()...))
	return groups
}

func synthRows(t testing.TB) []byte {
	var out, pstn, direct bytes.Buffer
	cfg := synth.Config{Tenant: "9b1c2f4e-0b8a-4c9e-8f3a-5d6e7f8a9b0c", Seed: 5, Records: 40, PSTN: &pstn, DirectRouting: &direct}
	if _, err := synth.Write(&out, cfg); err != nil {
		t.Fatal(err)
	}
	p, d := lines(pstn.Bytes()), lines(direct.Bytes())
	var b []byte
	for _, l := range append(p[:min(len(p), 2)], d[:min(len(d), 2)]...) {
		b = append(append(b, l...), '\n')
	}
	return b
}

func lines(b []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<30)
	for sc.Scan() {
		if l := bytes.TrimSpace(sc.Bytes()); len(l) > 0 {
			out = append(out, bytes.Clone(l))
		}
	}
	return out
}

// truncations cuts raw after about 150 evenly spread lengths.
func truncations(raw []byte) [][]byte {
	var out [][]byte
	step := max(len(raw)/150, 1)
	for i := 0; i < len(raw); i += step {
		out = append(out, bytes.Clone(raw[:i]))
	}
	return out
}

// byteEdits replaces bytes at spread positions with bytes that break the
// grammar or the encoding, or that change a value's meaning.
func byteEdits(raw []byte) [][]byte {
	var out [][]byte
	subs := []string{`"`, `{`, `}`, `[`, `]`, `,`, `:`, `0`, `x`, ` `, `\`, "\xff", "\xc3", "\x80", "\x01", "\xc3\xa9", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf"}
	step := max(len(raw)/60, 1)
	for i := 0; i < len(raw); i += step {
		for _, s := range subs {
			m := append(append(bytes.Clone(raw[:i]), s...), raw[i+1:]...)
			out = append(out, m)
		}
	}
	return out
}

// memberSpan is a member of an object somewhere in a record: its key's opening
// quote, its value's start and end.
type memberSpan struct{ key, start, end int }

// members lists every member of every object in raw, depth first.
func members(raw []byte) []memberSpan {
	var out []memberSpan
	at := func(sub []byte) int { return cap(raw) - cap(sub) } // sub-slices share raw's array
	var walk func(v []byte)
	walk = func(v []byte) {
		if o, ok := jsonx.NewObject(v); ok {
			for m, ok := o.Next(); ok; m, ok = o.Next() {
				out = append(out, memberSpan{at(m.Key) - 1, at(m.Value), at(m.Value) + len(m.Value)})
				walk(m.Value)
			}
		} else if a, ok := jsonx.NewArray(v); ok {
			for el, ok := a.Next(); ok; el, ok = a.Next() {
				walk(el)
			}
		}
	}
	walk(raw)
	return out
}

// valueEdits replaces member values with values of every kind, and values
// that are wrong in ways each primitive type checks.
func valueEdits(raw []byte) [][]byte {
	deep := strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40)
	deepObj := strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40)
	subs := []string{
		`null`, `true`, `false`, `0`, `-1`, `1.5e400`, `99999999999999999999999`, `2147483648`, `-0`, `1E+2`,
		`""`, `"x"`, `"NaN"`, `"INF"`, `"-INF"`, `"2020-02-30T00:00:00Z"`, `"2020-02-25T18:52:21.21698891234+01:00"`,
		`"2020-02-25"`, `"PT1S"`, `"P1DT2H3M4.5S"`, `"PT"`, `"c9b8a7d6-0000-4000-8000-00000000000A"`,
		`"audio"`, `"\u00e9t\u00e9 \"q\" \\ \/ \b\f\n\r\t \ud83d\ude00"`, `"\ud800"`, `[]`, `{}`, `[null]`, `["audio","audio"]`,
		`[{}]`, `{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent"}`, deep, deepObj, `{ "id" : "x" , "x":[1, 2] }`,
	}
	ms := members(raw)
	step := max(len(ms)/80, 1)
	var out [][]byte
	for i := 0; i < len(ms); i += step {
		m := ms[i]
		for _, s := range subs {
			out = append(out, splice(raw, m.start, m.end, s))
		}
	}
	return out
}

// memberEdits removes, renames, duplicates and annotates members.
func memberEdits(raw []byte) [][]byte {
	ms := members(raw)
	step := max(len(ms)/120, 1)
	var out [][]byte
	types := []string{
		`"#microsoft.graph.callRecords.participantEndpoint"`, `"#microsoft.graph.callRecords.serviceEndpoint"`,
		`"#microsoft.graph.callRecords.endpoint"`, `"microsoft.graph.callRecords.clientUserAgent"`,
		`"#microsoft.graph.callRecords.media"`, `"#nope"`, `"#graph.identitySet"`, `3`, `null`,
	}
	for i := 0; i < len(ms); i += step {
		m := ms[i]
		keyEnd := jsonx.StringEnd(raw, m.key)
		k := string(raw[m.key:keyEnd])
		member := string(raw[m.key:m.end])
		// Remove it (and a comma next to it).
		if e := jsonx.SkipSpace(raw, m.end); e < len(raw) && raw[e] == ',' {
			out = append(out, splice(raw, m.key, e+1, ""))
		} else {
			out = append(out, splice(raw, m.key, m.end, ""))
		}
		out = append(out,
			splice(raw, m.key, keyEnd, `"zz"`),
			splice(raw, m.key, keyEnd, `"a@b"`),
			splice(raw, m.key, keyEnd, `"`+escapeFirst(k[1:len(k)-1])+`"`),
			splice(raw, m.key, keyEnd, `"`+strings.ToUpper(k[1:len(k)-1])+`"`),
			splice(raw, m.key, m.key, member+","),
			splice(raw, m.end, m.end, ","+member),
		)
		for _, ty := range types {
			out = append(out, splice(raw, m.key, m.key, `"@odata.type":`+ty+","))
		}
		// A value that is an object gets annotations and unknown members.
		if raw[m.start] == '{' {
			out = append(out,
				splice(raw, m.start+1, m.start+1, `"x@odata.id":"q",`),
				splice(raw, m.start+1, m.start+1, `"zz":{"a":[1,{"b":null}]},`),
				splice(raw, m.end-1, m.end-1, `,"@odata.type":"#microsoft.graph.callRecords.clientUserAgent"`),
			)
		}
	}
	return out
}

// escapeFirst writes the first byte of a key as a \u escape.
func escapeFirst(k string) string {
	if k == "" || k[0] == '\\' {
		return k
	}
	return fmt.Sprintf(`\u%04x`, k[0]) + k[1:]
}

func splice(raw []byte, from, to int, s string) []byte {
	out := make([]byte, 0, len(raw)+len(s))
	out = append(append(append(out, raw[:from]...), s...), raw[to:]...)
	return out
}

// documents are whole inputs that are not records, or barely.
func documents() [][]byte {
	var out [][]byte
	for _, s := range []string{
		``, ` `, `null`, `[]`, `[{"id":"r"}]`, `"r"`, `1`, `{}`, `{"id":"r"}`, `{"id":"r"} `, `{"id":"r"} x`, `{"id":"r"}{"id":"s"}`,
		"\xef\xbb\xbf{\"id\":\"r\"}", `{"id":"r",}`, `{"id":"r" "version":1}`, `{"id":"r","version":01}`, `{"id":"r","version":1.}`,
		`{"id":"r","version":.5}`, `{"id":"r","version":-}`, `{"id":"r","version":1e}`, `{"id":"r","version":0x10}`,
		`{"id":"r","version":1e5}`, `{"id":"r","version":tru}`, `{"id":"r","version":nul}`, `{"id":"r","version":NaN}`,
		"{\"id\":\"r\x01\"}", `{"id":"r\x"}`, `{"id":"r\u12g4"}`, `{"id":"\ud800"}`, `{"id":"\u0000"}`, "{\"id\":\"r\"}\x00",
		`{'id':'r'}`, `{id:"r"}`, `{"id":"r",,"version":1}`, `{"id":"r"]`, `{"id":["r"}`, `{"id":"r","sessions":[{"id":"a"},]}`,
		`{"id":"r","sessions":[,{"id":"a"}]}`, `{"id":"r","sessions":[{"id":"a"} {"id":"b"}]}`,
		`{"id":"` + strings.Repeat("x", MaxIDLength) + `"}`, `{"id":"` + strings.Repeat("x", MaxIDLength-1) + `"}`,
		`{"id":"r","sessions":[{"id":"` + strings.Repeat("y", 1100) + `"}]}`,
		`{"id":"r","sessions":[{"id":"a","caller":{"identity":{"user":{"id":"u","x":` + strings.Repeat(`{"a":`, 33) + `1` + strings.Repeat(`}`, 33) + `}}}}]}`,
		`{"id":"r","sessions":[{"id":"a","caller":{"identity":{"user":{"id":"u","x":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}}}}]}`,
		`{"id":"r","sessions":[{"id":"a","caller":{"identity":{"user":{"id":"u","x":` + strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001) + `}}}}]}`,
		`{"id":"r","organizer_v2":{"id":"o"},"participants_v2":[{"id":"p"},{"id":"p"}]}`, `{"id":"r","organizer_v2":null,"participants_v2":null,"sessions":null}`,
		`{"id":"r","organizer_v2":[],"participants_v2":{},"sessions":{}}`, `{"id":"r","sessions":[{"id":"a","segments":{}}]}`,
		`{"id":"r","sessions":[{"id":"a","segments":[{"id":"g"},{"id":"g"}]}]}`, `{"id":"r","sessions":[{"id":"a","segments":null}]}`,
		`{"id":"r","sessions":[{"id":"a","segments":[null]}]}`, `{"id":"r","sessions":[null]}`, `{"id":"r","sessions":[{"id":"a","version":1}]}`,
		`{"id":"r","version":-0}`, `{"id":"r","version":9223372036854775807}`, `{"id":"r","version":-9223372036854775808}`,
		`{"id":"\"r\"","version":1,"startDateTime":"2020-02-25T18:52:21+01:00","endDateTime":"2020-02-25T18:52:21.123456789-02:30"}`,
		`{"\u0069d":"r"}`, `{"id":"r","\u0040odata.type":"#microsoft.graph.callRecords.callRecord"}`, `{"id":"r","@odata.type":"#microsoft.graph.callRecords.callRecord"}`,
		`{"id":"r","@odata.type":"#microsoft.graph.callRecords.session"}`, `{"id":"r","@odata.type":"#microsoft.graph.entity"}`, `{"@odata.type":"x","@odata.type":"y","id":"r"}`,
		`{"id":"r","joinWebUrl":"\u00e9\ud83d\ude00"}`, `{"id":"r","joinWebUrl":"` + "\xc3\xa9\xf0\x9f\x98\x80" + `"}`, `{"id":"r","joinWebUrl":"\/"}`,
		"\t{\"id\" :\n\"r\" ,\r\n\"version\" : 2 }\n", `{"id":"r","modalities":[ "audio" , "video" ]}`, `{"id":"r","modalities":["\u0061udio"]}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

// FuzzNormalize checks what holds for any input, without a second
// normaliser to compare with: syntax errors are exactly encoding/json's,
// stored bodies are compact JSON, and stored bodies are a fixed point (a
// record made of them normalizes to the same bodies).
func FuzzNormalize(f *testing.F) {
	for _, g := range corpus(f) {
		for i, in := range g.inputs {
			if i%23 == 0 && in.kind == "" && len(in.raw) < 16000 {
				f.Add(in.raw)
			}
		}
	}
	n := NewNormalizer()
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := n.Record("tenant-a", raw)
		if !utf8.Valid(raw) || !json.Valid(raw) {
			if want := syntaxError(raw).Error(); err == nil || err.Error() != want {
				t.Fatalf("got %v, want %s", err, want)
			}
			return
		}
		if err != nil {
			if e := err.(*Error); e.Path == "$" && (strings.HasPrefix(e.Reason, "invalid JSON") || strings.Contains(e.Reason, "UTF-8")) {
				t.Fatalf("valid input refused: %v", err)
			}
			return
		}
		var b strings.Builder
		writeRecord(&b, r)
		again, err := n.Record("tenant-a", reassemble(r))
		if err != nil {
			t.Fatalf("stored form refused: %v\n%s", err, b.String())
		}
		var b2 strings.Builder
		writeRecord(&b2, again)
		if b.String() != b2.String() {
			t.Fatalf("stored form normalizes differently:\n%s\n%s", b.String(), b2.String())
		}
		for _, body := range bodies(r) {
			var c bytes.Buffer
			if err := json.Compact(&c, body); err != nil || !bytes.Equal(c.Bytes(), body) {
				t.Fatalf("stored body is not compact JSON (%v): %s", err, body)
			}
		}
	})
}

// reassemble writes a stored record back in the import shape.
func reassemble(r *callvault.Record) []byte {
	b := append([]byte(nil), r.Body[:len(r.Body)-1]...)
	if r.Organizer != nil {
		b = append(append(b, `,"organizer_v2":`...), r.Organizer...)
	}
	if len(r.Participants) > 0 {
		b = append(b, `,"participants_v2":[`...)
		for i, p := range r.Participants {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, p.Body...)
		}
		b = append(b, ']')
	}
	if len(r.Sessions) > 0 {
		b = append(b, `,"sessions":[`...)
		for i, s := range r.Sessions {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, s.Body[:len(s.Body)-1]...)
			if len(s.Segments) > 0 {
				b = append(b, `,"segments":[`...)
				for j, g := range s.Segments {
					if j > 0 {
						b = append(b, ',')
					}
					b = append(b, g.Body...)
				}
				b = append(b, ']')
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func bodies(r *callvault.Record) [][]byte {
	out := [][]byte{r.Body}
	if r.Organizer != nil {
		out = append(out, r.Organizer)
	}
	for _, p := range r.Participants {
		out = append(out, p.Body)
	}
	for _, s := range r.Sessions {
		out = append(out, s.Body)
		for _, g := range s.Segments {
			out = append(out, g.Body)
		}
	}
	return out
}
