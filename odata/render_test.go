package odata_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/schema"
	"github.com/callvault/callvault/synth"
)

const tenant = "5eed1e55-0000-4000-8000-00000000be7c"

// storedBody is a body in stored form with the short name of its type.
type storedBody struct {
	typ  string
	body []byte
}

// storedBodies are what the importer stores of a meeting and of synth's mix
// of calls: every session, segment, record, participant and organizer.
var storedBodies = sync.OnceValues(func() ([]storedBody, error) {
	var out []storedBody
	n := ingest.NewNormalizer()
	add := func(raw []byte) error {
		r, err := n.Record(tenant, raw)
		if err != nil {
			return err
		}
		out = append(out, storedBody{"callRecord", r.Body})
		if r.Organizer != nil {
			out = append(out, storedBody{"organizer", r.Organizer})
		}
		for _, p := range r.Participants {
			out = append(out, storedBody{"participant", p.Body})
		}
		for _, s := range r.Sessions {
			out = append(out, storedBody{"session", s.Body})
			for _, g := range s.Segments {
				out = append(out, storedBody{"segment", g.Body})
			}
		}
		return nil
	}
	if err := add(synth.RecordWithSessions(tenant, 1, "", 120)); err != nil {
		return nil, err
	}
	records := 150
	if testing.Short() {
		records = 30
	}
	var mix strings.Builder
	if _, err := synth.Write(&mix, synth.Config{Tenant: tenant, Seed: 7, Records: records}); err != nil {
		return nil, err
	}
	for line := range strings.Lines(mix.String()) {
		if err := add([]byte(line)); err != nil {
			return nil, err
		}
	}
	return out, nil
})

func codecs() []*odata.Codec {
	return []*odata.Codec{odata.NewCodec(schema.MustLoad(schema.V1)), odata.NewCodec(schema.MustLoad(schema.Beta))}
}

func typeOf(c *odata.Codec, name string) *schema.Type {
	return c.Model.Type(schema.CallRecordsNamespace + "." + name)
}

// checkRender holds the script of body to what Object writes, and returns
// the script.
func checkRender(t *testing.T, c *odata.Codec, typ string, body []byte) []byte {
	t.Helper()
	ty := typeOf(c, typ)
	script := c.Compile(ty, body)
	if script == nil {
		return nil
	}
	want := c.Object(nil, ty, body, nil, odata.Options{}, false)
	got, ok := c.Render([]byte("prefix"), script, body)
	if !ok || string(got) != "prefix"+string(want) {
		t.Fatalf("%s %s: Render(Compile) differs from Object (ok %v)\nbody %s\n got %s\nwant %s", c.Model.Version, typ, ok, body, got, want)
	}
	return script
}

func TestRenderMatchesObject(t *testing.T) {
	bodies, err := storedBodies()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codecs() {
		count := map[string]int{}
		var bodyBytes, scriptBytes, hidden int
		for _, b := range bodies {
			script := checkRender(t, c, b.typ, b.body)
			if script == nil {
				t.Errorf("%s: Compile refused a stored %s: %s", c.Model.Version, b.typ, b.body)
				continue
			}
			count[b.typ]++
			bodyBytes += len(b.body)
			scriptBytes += len(script)
			out, _ := c.Render(nil, script, b.body)
			hidden += bytes.Count(out, []byte(`"unknownFutureValue"`))
		}
		if hidden == 0 {
			t.Errorf("%s: no body had an evolvable enum member to hide", c.Model.Version)
		}
		t.Logf("%s: %v bodies; scripts are %.2f%% of their bodies (%d members hidden as unknownFutureValue)", c.Model.Version, count, 100*float64(scriptBytes)/float64(bodyBytes), hidden)
	}
}

// TestRenderShapes covers what synth may not make: each body in stored form
// must compile, and render as Object writes it.
func TestRenderShapes(t *testing.T) {
	for _, tc := range []struct {
		typ, body string
		hidden    bool // a member past the sentinel that must come out hidden
	}{
		{typ: "session", body: `{}`},
		{typ: "segment", body: `{"id":"g"}`},
		{typ: "session", body: `{"id":"s","modalities":[]}`},
		{typ: "session", body: `{"modalities":["audio","video"]}`}, // non-nullable collections stored absent around it
		{typ: "session", body: `{"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","platform":"web","productFamily":"azureCommunicationServices"}}}`, hidden: true},
		{typ: "session", body: `{"callee":{"@odata.type":"#microsoft.graph.callRecords.serviceEndpoint","userAgent":{}},"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","feedback":null}}`},
		{typ: "session", body: `{"id":"s","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","associatedIdentity":{"displayName":"Zoë \"Z\" \u00e9","id":"u"}},"failureInfo":{}}`},
		// Dynamic members of an open type, and a runtime type by its alias.
		{typ: "session", body: `{"callee":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","associatedIdentity":{"@odata.type":"#graph.communicationsGuestIdentity","id":"g","x":null}},"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","associatedIdentity":{"displayName":"Z","id":"u","tenantId":"t","extra":{"a":null,"b":[1]}}}}`},
		{typ: "segment", body: `{"id":"g","media":[{"label":"main-audio","streams":[{"streamId":"1"},{}]},{}]}`},
		{typ: "callRecord", body: `{"id":"r","modalities":["audio"],"type":"groupCall","version":3}`},
		{typ: "organizer", body: `{"@odata.type":"#microsoft.graph.callRecords.organizer"}`},
		{typ: "session", body: " {\"id\" : \"s\" , \"modalities\":[ \"audio\" , \"video\" ] } "}, // whitespace: merge takes it all the same
	} {
		for _, c := range codecs() {
			script := checkRender(t, c, tc.typ, []byte(tc.body))
			if script == nil {
				t.Errorf("%s: Compile refused %s", c.Model.Version, tc.body)
				continue
			}
			out, _ := c.Render(nil, script, []byte(tc.body))
			if got := bytes.Contains(out, []byte(`"unknownFutureValue"`)); got != tc.hidden {
				t.Errorf("%s: unknownFutureValue written %v, want %v: %s", c.Model.Version, got, tc.hidden, out)
			}
		}
	}
}

// TestCompileRefuses: what merge cannot take, Compile does not either.
func TestCompileRefuses(t *testing.T) {
	c := codecs()[0]
	for _, tc := range []struct{ typ, body string }{
		{"session", `{"modalities":["audio"],"id":"s"}`}, // out of order: Object indexes it
		{"session", `{"id":"s","id":"t"}`},
		{"session", `{"caller":"x"}`}, // a structured value that is not an object
		{"session", `{"id":"s"`},      // not JSON
		{"session", `[]`},
		{"session", ``},
		{"session", `null`},
	} {
		if s := c.Compile(typeOf(c, tc.typ), []byte(tc.body)); s != nil {
			// Compile may take it only if it renders as Object does.
			checkRender(t, c, tc.typ, []byte(tc.body))
			t.Logf("compiled %s", tc.body)
		}
	}
	if s := c.Compile(c.Model.Type(schema.EdmString), []byte(`"x"`)); s != nil {
		t.Errorf("compiled a primitive")
	}
	beta := codecs()[1]
	if s := c.Compile(typeOf(beta, "session"), []byte(`{}`)); s != nil {
		t.Errorf("compiled for a type of another model")
	}
}

func TestRenderRefusesCorruptScripts(t *testing.T) {
	v1, beta := codecs()[0], codecs()[1]
	session := typeOf(v1, "session")
	body := []byte(`{"id":"s","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"platform":"web","productFamily":"azureCommunicationServices"}},"modalities":["audio"]}`)
	script := v1.Compile(session, body)
	if script == nil {
		t.Fatal("Compile refused the body")
	}
	refused := func(what string, script, body []byte) {
		t.Helper()
		out, ok := v1.Render([]byte("keep"), script, body)
		if ok || string(out) != "keep" {
			t.Errorf("%s: ok %v, %q", what, ok, out)
		}
	}
	for n := range len(script) {
		refused("truncated", script[:n], body)
	}
	refused("another body", script, []byte(`{"id":"t"}`))
	refused("the body cut", script, body[:len(body)-1])
	refused("nil", nil, body)

	fp := script[1:9]
	header := func(out int) []byte {
		s := append([]byte{1}, fp...)
		s = binary.AppendUvarint(s, uint64(len(body)))
		return binary.AppendUvarint(s, uint64(out))
	}
	op := func(s []byte, a ...uint64) []byte {
		for _, x := range a {
			s = binary.AppendUvarint(s, x)
		}
		return s
	}
	refused("copy past the body", op(header(len(body)+1), uint64(len(body)+1)<<2), body)
	refused("copy past the body after a skip", op(header(len(body)), 1<<2|2, uint64(len(body))), body)
	refused("skip past the body", op(header(1), uint64(len(body)+1)<<2|2, 1), body)
	refused("huge copy", op(header(1), 1<<63), body)
	refused("huge skip", op(header(1), 1<<63|2, 1), body)
	refused("huge copy after a skip", op(header(1), 2, 1<<63), body)
	refused("const past the dictionary", op(header(1), 1<<40|1, 1), body)
	refused("const across the dictionary's end", op(header(1), 1<<20|1, 1<<20), body)
	refused("huge const", op(header(1), 1, 1<<63), body)
	refused("a varint too long", append(header(1), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01), body)
	refused("a varint cut short", append(header(1), 0x80), body)
	refused("an op without its length", append(header(1), 0x02), body)
	refused("the wrong output length", op(header(2), 1<<2), body)
	refused("no fingerprint", append([]byte{0}, header(1)[1:]...), body)
	refused("fingerprints cut short", append([]byte{2}, header(1)[1:5]...), body)
	refused("no lengths", append([]byte{1}, fp...), body)
	if out, ok := v1.Render(nil, op(header(1), 1<<2), body); !ok || string(out) != "{" {
		t.Errorf("a well-formed script: ok %v, %q", ok, out)
	}
	if out, ok := v1.Render(nil, op(header(4), 2<<1|1, 4), body); !ok || string(out) != "{},:" {
		t.Errorf("a well-formed script: ok %v, %q", ok, out)
	}

	// Another codec's script.
	if out, ok := beta.Render(nil, script, body); ok || len(out) != 0 {
		t.Errorf("the beta codec ran a v1.0 script: %q", out)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		b := make([]byte, r.IntN(64))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if r.IntN(2) == 0 {
			b = append(header(r.IntN(len(body)*2)), b...)
		}
		v1.Render(nil, b, body)                                        // must not panic
		v1.RenderStored(nil, b, body)                                  // nor this
		v1.RenderStored(nil, append([]byte{byte(len(b))}, b...), body) // nor this
	}
}

func TestScriptsNameTheirCodec(t *testing.T) {
	v1, beta := codecs()[0], codecs()[1]
	body := []byte(`{"id":"s","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"platform":"web","productFamily":"azureCommunicationServices"}}}`)
	name := schema.CallRecordsNamespace + ".session"
	blob := odata.CompileAll([]*odata.Codec{v1, beta}, name, body)
	for _, c := range []*odata.Codec{v1, beta} {
		want := c.Object(nil, typeOf(c, "session"), body, nil, odata.Options{}, false)
		got, ok := c.RenderStored(nil, blob, body)
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("%s: RenderStored ok %v\n got %s\nwant %s", c.Model.Version, ok, got, want)
		}
		// A codec built apart (as the importer's are) takes the same scripts.
		other := odata.NewCodec(c.Model)
		if got, ok := other.RenderStored(nil, blob, body); !ok || !bytes.Equal(got, want) {
			t.Errorf("%s: another codec of the version refused its script", c.Model.Version)
		}
	}
	v1only := odata.CompileAll([]*odata.Codec{v1}, name, body)
	if _, ok := beta.RenderStored(nil, v1only, body); ok {
		t.Errorf("the beta codec ran a v1.0 script")
	}
	s1, sb := v1.Compile(typeOf(v1, "session"), body), beta.Compile(typeOf(beta, "session"), body)
	if len(s1) < 9 || len(sb) < 9 || bytes.Equal(s1[1:9], sb[1:9]) {
		t.Errorf("v1.0 and beta scripts have the same fingerprint")
	}
	if _, ok := beta.Render(nil, s1, body); ok {
		t.Errorf("the beta codec ran a v1.0 script")
	}
	if len(blob) >= len(s1)+len(sb) {
		t.Errorf("the versions write the body alike, but their scripts were not shared: %d bytes", len(blob))
	}

	// Scripts one after another: each codec finds its own.
	var two []byte
	for _, x := range [][]byte{s1, sb} {
		two = binary.AppendUvarint(two, uint64(len(x)))
		two = append(two, x...)
	}
	for _, c := range []*odata.Codec{v1, beta} {
		want := c.Object(nil, typeOf(c, "session"), body, nil, odata.Options{}, false)
		if got, ok := c.RenderStored(nil, two, body); !ok || !bytes.Equal(got, want) {
			t.Errorf("%s: two scripts: RenderStored ok %v", c.Model.Version, ok)
		}
	}

	// A body only beta compiles: v1.0 orders pstnCallLogRow otherwise, and
	// indexes it.
	row := typeOf(beta, "pstnCallLogRow")
	stored := beta.Object(nil, row, []byte(`{"id":"row-1","otherPartyCountryCode":"FR","userDisplayName":"Zoë","callId":"c1","charge":0.00,"clientLocalIpV4Address":"10.0.0.1","duration":42}`), nil, odata.Options{OmitNulls: true}, false)
	blob = odata.CompileAll([]*odata.Codec{v1, beta}, row.Name, stored)
	if out, ok := v1.RenderStored([]byte("keep"), blob, stored); ok || string(out) != "keep" {
		t.Errorf("v1.0 rendered a pstnCallLogRow from beta's script: %s", out)
	}
	want := beta.Object(nil, row, stored, nil, odata.Options{}, false)
	if got, ok := beta.RenderStored(nil, blob, stored); !ok || !bytes.Equal(got, want) {
		t.Errorf("beta: a pstnCallLogRow: RenderStored ok %v\n got %s\nwant %s", ok, got, want)
	}
	if odata.CompileAll([]*odata.Codec{v1, beta}, name, []byte(`[]`)) != nil {
		t.Errorf("CompileAll returned a blob without scripts")
	}
	if odata.CompileAll([]*odata.Codec{v1, beta}, "microsoft.graph.callRecords.noSuchType", body) != nil {
		t.Errorf("CompileAll compiled a type no codec has")
	}
	for n := range len(blob) {
		for _, c := range []*odata.Codec{v1, beta} {
			if out, ok := c.RenderStored([]byte("keep"), blob[:n], body); ok || string(out) != "keep" {
				// A cut that leaves v1.0's script whole is fine for v1.0.
				if c != v1 || n < len(v1only) {
					t.Errorf("%s: a blob cut to %d bytes: ok %v", c.Model.Version, n, ok)
				}
			}
		}
	}
}

// FuzzRender runs arbitrary scripts: Render must not panic, and must leave
// buf as it was when it refuses.
func FuzzRender(f *testing.F) {
	c := odata.NewCodec(schema.MustLoad(schema.V1))
	session := typeOf(c, "session")
	body := []byte(`{"id":"s","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"platform":"web","productFamily":"azureCommunicationServices"}},"modalities":["audio"]}`)
	script := c.Compile(session, body)
	f.Add(script)
	f.Add(script[:len(script)-1])
	f.Add(script[:9])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, s []byte) {
		out, ok := c.Render([]byte("keep"), s, body)
		if !ok && string(out) != "keep" {
			t.Fatalf("refused, but buf is %q", out)
		}
		if ok && !bytes.HasPrefix(out, []byte("keep")) {
			t.Fatalf("buf lost its prefix: %q", out)
		}
		c.RenderStored(nil, s, body)
	})
}

// FuzzCompile holds Compile and CompileAll to their promise on any body:
// no panic, nothing compiled of a body that is not JSON, and a script,
// when there is one, writes what Object writes.
func FuzzCompile(f *testing.F) {
	codecs := []*odata.Codec{odata.NewCodec(schema.MustLoad(schema.V1)), odata.NewCodec(schema.MustLoad(schema.Beta))}
	f.Add([]byte(`{"id":"s","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"platform":"web","productFamily":"azureCommunicationServices"}},"modalities":["audio"]}`))
	f.Add([]byte(`{"id":"g","media":[{"label":"main-audio","streams":[{"streamId":"1","averageJitter":"PT0.01S"}]}]}`))
	f.Add([]byte(`{"id":"s","modalities":["audio",]}`))
	f.Add([]byte(`{"id":"s","caller":{"userAgent":{"platform":"web"`))
	f.Add([]byte(`{"id":"s" , "failureInfo":null,"isTest":tru}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, typ := range []string{"session", "segment"} {
			name := schema.CallRecordsNamespace + "." + typ
			all := odata.CompileAll(codecs, name, body)
			if !json.Valid(body) {
				// Object's input is a stored body, valid JSON: nothing
				// to compare with, and nothing to compile.
				if all != nil || codecs[0].Compile(codecs[0].Model.Type(name), body) != nil {
					t.Fatalf("compiled a body that is not JSON: %q", body)
				}
				continue
			}
			for _, c := range codecs {
				tt := c.Model.Type(name)
				want := c.Object(nil, tt, body, nil, odata.Options{}, false)
				if s := c.Compile(tt, body); s != nil {
					if got, ok := c.Render(nil, s, body); !ok || !bytes.Equal(got, want) {
						t.Fatalf("%s %s: the script writes %q (ok %v), Object %q", c.Model.Version, typ, got, ok, want)
					}
				}
				if got, ok := c.RenderStored(nil, all, body); ok && !bytes.Equal(got, want) {
					t.Fatalf("%s %s: CompileAll's script writes %q, Object %q", c.Model.Version, typ, got, want)
				}
				// The member table skips what a $select leaves out.
				for _, sel := range []string{"id", "id,startDateTime", "id,media", "caller,modalities"} {
					q, err := odata.ParseQuery("$select="+sel, c.Model.Version, tt, odata.Rules{Select: true})
					if err != nil {
						continue // a property the type lacks
					}
					want := c.Object(nil, tt, body, q.Select, odata.Options{}, false)
					if got := c.ObjectStored(nil, tt, body, all, q.Select, odata.Options{}); !bytes.Equal(got, want) {
						t.Fatalf("%s %s $select=%s: ObjectStored writes %q, Object %q", c.Model.Version, typ, sel, got, want)
					}
				}
			}
		}
	})
}
