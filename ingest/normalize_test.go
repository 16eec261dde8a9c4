package ingest

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/synth"
)

func normalize(t *testing.T, raw string) (*callvault.Record, error) {
	t.Helper()
	return NewNormalizer().Record("tenant-a", []byte(raw))
}

func TestTheSeedRecordNormalizes(t *testing.T) {
	raw, err := os.ReadFile("testdata/seed-record.json")
	if err != nil {
		t.Fatal(err)
	}
	r, err := normalize(t, string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "e523d2ed-2966-4b6b-925b-754a88034cc5" || r.Version != 1 || r.Tenant != "tenant-a" {
		t.Errorf("header: %+v", r)
	}
	if r.StartDateTime.Format("2006-01-02T15:04:05.0000000Z") != "2020-02-25T18:52:21.2169889Z" {
		t.Errorf("start %v", r.StartDateTime)
	}
	wantBody := `{"id":"e523d2ed-2966-4b6b-925b-754a88034cc5","endDateTime":"2020-02-25T18:52:46.7640013Z","lastModifiedDateTime":"2020-02-25T19:00:24.582757Z","modalities":["audio"],"startDateTime":"2020-02-25T18:52:21.2169889Z","type":"peerToPeer","version":1}`
	if string(r.Body) != wantBody {
		t.Errorf("record body\n got %s\nwant %s", r.Body, wantBody)
	}
	if len(r.Sessions) != 1 || len(r.Sessions[0].Segments) != 1 {
		t.Fatalf("sessions: %+v", r.Sessions)
	}
	s := string(r.Sessions[0].Body)
	for _, want := range []string{
		`{"id":"e523d2ed-2966-4b6b-925b-754a88034cc5","callee":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","headerValue":`,
		`"productFamily":"azureCommunicationServices"}`,
		`"associatedIdentity":{"displayName":"Owen Franklin — Zoë","id":"f69e2c00-0000-0000-0000-185e5f5f5d8a","tenantId":"dc368399-474c-4d40-900c-6265431fd81f","userPrincipalName":"owen.franklin@contoso.com"}`,
		`"feedback":{"rating":"poor","tokens":{"NoSound":false,"OtherNoSound":false,"Echo":false,"Noisy":true,"LowVolume":null}}`,
		`"isTest":false,"modalities":["audio"],"startDateTime":"2020-02-25T18:52:21.2169889Z"}`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("session body lacks %s\nbody: %s", want, s)
		}
	}
	if strings.Contains(s, "segments") || strings.Contains(s, "@odata.context") {
		t.Errorf("navigation values and annotations stay out of the body: %s", s)
	}
	seg := string(r.Sessions[0].Segments[0].Body)
	for _, want := range []string{`"linkSpeed":9223372036854775807`, `"averageBandwidthEstimate":9007199254740993`, `"averageJitter":"PT0.016S"`} {
		if !strings.Contains(seg, want) {
			t.Errorf("segment body lacks %s: %s", want, seg)
		}
	}
	if strings.Contains(seg, "averageAudioDegradation") {
		t.Errorf("nulls of declared properties are not stored: %s", seg)
	}
	for _, b := range [][]byte{r.Body, r.Sessions[0].Body, r.Sessions[0].Segments[0].Body} {
		if !json.Valid(b) {
			t.Errorf("stored body is not JSON: %s", b)
		}
	}
}

func TestEndpointsWithoutODataTypeAreInferred(t *testing.T) {
	r, err := normalize(t, `{"id":"r","sessions":[{"id":"s","caller":{"name":"pc","userAgent":{"role":"mediaController"}}}]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"s","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.serviceUserAgent","role":"mediaController"},"name":"pc"}}`
	if got := string(r.Sessions[0].Body); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestBadRecordsNameThePathAndTheReason(t *testing.T) {
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"invalid JSON", `{"id":"r",}`, `$: invalid JSON: invalid character '}' looking for beginning of object key string`},
		{"not an object", `[1]`, `$: expected an object of type microsoft.graph.callRecords.callRecord`},
		{"missing id", `{"version":1}`, `$.id: missing id: every callRecord needs a non-empty string id`},
		{"empty id", `{"id":""}`, `$.id: missing id: every callRecord needs a non-empty string id`},
		{"unknown property", `{"id":"r","colour":"red"}`, `$.colour: unknown property 'colour' on type microsoft.graph.callRecords.callRecord`},
		{"wrong type", `{"id":"r","version":"2"}`, `$.version: expected an integer that fits Edm.Int64, got "2"`},
		{"Int64 overflow", `{"id":"r","version":9223372036854775808}`, `$.version: expected an integer that fits Edm.Int64, got 9223372036854775808`},
		{"bad enum", `{"id":"r","type":"conference"}`, `$.type: 'conference' is not a member of enum callType (unknown, groupCall, peerToPeer, unknownFutureValue)`},
		{"bad enum in a collection", `{"id":"r","modalities":["audio","smell"]}`, `$.modalities[1]: 'smell' is not a member of enum modality (audio, video, videoBasedScreenSharing, data, screenSharing, unknownFutureValue)`},
		{"non-nullable null", `{"id":"r","type":null}`, `$.type: must not be null (type is not nullable)`},
		{"bad date", `{"id":"r","startDateTime":"yesterday"}`, `$.startDateTime: expected an RFC 3339 date-time such as 2020-02-25T18:52:21.2169889Z, got "yesterday"`},
		{"session without id", `{"id":"r","sessions":[{"id":"a"},{"modalities":[]}]}`, `$.sessions[1].id: missing id: every session needs a non-empty string id`},
		{"duplicate session", `{"id":"r","sessions":[{"id":"a"},{"id":"a"}]}`, `$.sessions[1].id: duplicate session id "a"`},
		{"deep bad duration", `{"id":"r","sessions":[{"id":"a","segments":[{"id":"g","media":[{"streams":[{"streamDirection":"callerToCallee","averageJitter":"16ms"}]}]}]}]}`,
			`$.sessions[0].segments[0].media[0].streams[0].averageJitter: expected an ISO 8601 duration such as PT0.016S, got "16ms"`},
		{"Int32 overflow", `{"id":"r","sessions":[{"id":"a","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","cpuCoresCount":4294967296}}]}`,
			`$.sessions[0].caller.cpuCoresCount: expected an integer that fits Edm.Int32, got 4294967296`},
		{"abstract user agent", `{"id":"r","sessions":[{"id":"a","caller":{"userAgent":{"headerValue":"x"}}}]}`,
			`$.sessions[0].caller.userAgent: microsoft.graph.callRecords.userAgent is abstract: set @odata.type to one of #microsoft.graph.callRecords.clientUserAgent, #microsoft.graph.callRecords.serviceUserAgent`},
		{"foreign odata.type", `{"id":"r","sessions":[{"id":"a","caller":{"@odata.type":"#microsoft.graph.callRecords.media"}}]}`,
			`$.sessions[0].caller.@odata.type: type microsoft.graph.callRecords.media is not microsoft.graph.callRecords.endpoint or derived from it`},
		{"duplicate property", `{"id":"r","version":1,"version":2}`, `$.version: duplicate property 'version'`},
		{"segments on a segment", `{"id":"r","sessions":[{"id":"a","segments":[{"id":"g","segments":[]}]}]}`, `$.sessions[0].segments[0].segments: unknown property 'segments' on type microsoft.graph.callRecords.segment`},
		{"negative version", `{"id":"r","version":-1}`, `$.version: must not be negative`},
		{"Single out of range", `{"id":"r","sessions":[{"id":"a","segments":[{"id":"g","media":[{"callerDevice":{"deviceGlitchEventRatio":1e39}}]}]}]}`,
			`$.sessions[0].segments[0].media[0].callerDevice.deviceGlitchEventRatio: 1e39 is out of the range of Edm.Single (at most ±3.4028235e+38)`},
		{"Single past any float", `{"id":"r","sessions":[{"id":"a","segments":[{"id":"g","media":[{"callerDevice":{"deviceGlitchEventRatio":-1e400}}]}]}]}`,
			`$.sessions[0].segments[0].media[0].callerDevice.deviceGlitchEventRatio: -1e400 is out of the range of Edm.Single (at most ±3.4028235e+38)`},
		{"a number of 100,000 digits", `{"id":"r","sessions":[{"id":"a","segments":[{"id":"g","media":[{"callerDevice":{"deviceGlitchEventRatio":1` + strings.Repeat("0", 100000) + `}}]}]}]}`,
			`$.sessions[0].segments[0].media[0].callerDevice.deviceGlitchEventRatio: 1000000000000000000000000000000000000000… is out of the range of Edm.Single (at most ±3.4028235e+38)`},
		{"lone surrogate", `{"id":"r","sessions":[{"id":"a","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","name":"x\ud800y"}}]}`,
			`$.sessions[0].caller.name: the string holds \ud800, half of a UTF-16 surrogate pair without its other half, which is not a character`},
		{"lone low surrogate in an id", `{"id":"\udc00"}`,
			`$.id: the string holds \udc00, half of a UTF-16 surrogate pair without its other half, which is not a character`},
		{"lone surrogate in a dynamic property's name", `{"id":"r","sessions":[{"id":"a","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","feedback":{"tokens":{"a\uD83D":true}}}}]}`,
			`$.sessions[0].caller.feedback.tokens.a` + "\uFFFD" + `: the string holds \uD83D, half of a UTF-16 surrogate pair without its other half, which is not a character`},
		{"end before the range", `{"id":"r","endDateTime":"1000-01-01T00:00:00Z"}`,
			`$.endDateTime: 1000-01-01T00:00:00Z is outside the date-times callvault stores, 1678-01-01T00:00:00Z up to 2262-01-01T00:00:00Z`},
		{"end after the range", `{"id":"r","endDateTime":"9999-12-31T23:59:59Z"}`,
			`$.endDateTime: 9999-12-31T23:59:59Z is outside the date-times callvault stores, 1678-01-01T00:00:00Z up to 2262-01-01T00:00:00Z`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := normalize(t, tc.raw)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestNumbersAndDatesAtTheEdgesOfTheirRangesAreKept(t *testing.T) {
	r, err := normalize(t, `{"id":"r","startDateTime":"1678-01-01T00:00:00Z","endDateTime":"2261-12-31T23:59:59.9999999Z","sessions":[{"id":"a","segments":[{"id":"g","media":[{"callerDevice":{"deviceGlitchEventRatio":-3.4028234e38,"micGlitchRate":1e-50}}]}]}]}`)
	if err != nil {
		t.Fatal(err)
	}
	// A whole surrogate pair is a character; an escaped backslash before a u is no escape.
	if _, err := normalize(t, `{"id":"r","sessions":[{"id":"a","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","name":"\ud83d\ude00 \\ud800"}}]}`); err != nil {
		t.Error(err)
	}
	// .NET's DateTime.MinValue, which Graph writes for "no date", means none;
	// dates that are not indexed (a session's) may be any RFC 3339 date.
	if r, err := normalize(t, `{"id":"r","startDateTime":"0001-01-01T00:00:00Z","sessions":[{"id":"a","startDateTime":"9999-12-31T23:59:59Z"}]}`); err != nil || !r.StartDateTime.IsZero() {
		t.Errorf("got %v, %v", r, err)
	}
	if seg := string(r.Sessions[0].Segments[0].Body); !strings.Contains(seg, `-3.4028234e38`) || !strings.Contains(seg, `1e-50`) {
		t.Errorf("numbers are kept as written: %s", seg)
	}
}

func TestInvalidUTF8IsRejected(t *testing.T) {
	if _, err := normalize(t, "{\"id\":\"\xff\"}"); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("got %v", err)
	}
}

// BenchmarkNormalize validates 100 records of synth's default mix (about 480
// sessions, 4 MB) an op, as the importer's validating goroutines do. On a
// shared machine compare cpu-µs/session (the process's user and system time,
// GC included), not ns/op.
func BenchmarkNormalize(b *testing.B) {
	var out bytes.Buffer
	st, err := synth.Write(&out, synth.Config{Tenant: "9b1c2f4e-0b8a-4c9e-8f3a-5d6e7f8a9b0c", Seed: 1, Records: 100})
	if err != nil {
		b.Fatal(err)
	}
	recs := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte{'\n'})
	n := NewNormalizer()
	b.SetBytes(int64(out.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for b.Loop() {
		for _, raw := range recs {
			if _, err := n.Record("tenant-a", raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	cpu = processCPU() - cpu
	sessions := float64(st.Sessions) * float64(b.N)
	b.ReportMetric(sessions/b.Elapsed().Seconds(), "sessions/s")
	b.ReportMetric(float64(cpu.Microseconds())/sessions, "cpu-µs/session")
}
