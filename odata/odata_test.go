package odata

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/schema"
)

func typ(m *schema.Model, name string) *schema.Type {
	return m.Type(schema.CallRecordsNamespace + "." + name)
}

func TestCodecWritesOnlyWhatTheVersionHas(t *testing.T) {
	// clientLocalIpV4Address is a beta-only property of pstnCallLogRow, and
	// otherPartyCountryCode a beta-only one of its beta base, callLogRow.
	stored := []byte(`{"id":"row-1","otherPartyCountryCode":"FR","userDisplayName":"Zoë","callId":"c1","charge":0.00,"clientLocalIpV4Address":"10.0.0.1","duration":42}`)
	v1 := NewCodec(schema.MustLoad(schema.V1))
	got := string(v1.Object(nil, typ(v1.Model, "pstnCallLogRow"), stored, nil, Options{OmitNulls: true}, false))
	want := `{"callId":"c1","charge":0.00,"duration":42,"id":"row-1","userDisplayName":"Zoë"}`
	if got != want {
		t.Errorf("v1.0\n got %s\nwant %s", got, want)
	}
	beta := NewCodec(schema.MustLoad(schema.Beta))
	got = string(beta.Object(nil, typ(beta.Model, "pstnCallLogRow"), stored, nil, Options{OmitNulls: true}, false))
	for _, p := range []string{`"clientLocalIpV4Address":"10.0.0.1"`, `"otherPartyCountryCode":"FR"`} {
		if !strings.Contains(got, p) {
			t.Errorf("beta lacks %s: %s", p, got)
		}
	}
}

func TestCodecOptions(t *testing.T) {
	c := NewCodec(schema.MustLoad(schema.V1))
	session := typ(c.Model, "session")
	stored := []byte(`{"id":"s","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","platform":"web","productFamily":"azureCommunicationServices"},"associatedIdentity":{"id":"u","tenantId":null,"extra":{"a":null,"b":[null,{"c":null}]}}},"modalities":["audio","video"]}`)
	for _, tc := range []struct {
		name string
		sel  []string
		o    Options
		want string
	}{
		{"defaults write nulls and hide evolvable members", []string{"id", "caller"}, Options{},
			`{"id":"s","caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","applicationVersion":null,"headerValue":null,"azureADAppId":null,"communicationServiceId":null,"platform":"web","productFamily":"unknownFutureValue"},"associatedIdentity":{"displayName":null,"id":"u","tenantId":null,"extra":{"a":null,"b":[null,{"c":null}]}},"cpuCoresCount":null,"cpuName":null,"cpuProcessorSpeedInMhz":null,"feedback":null,"identity":null,"name":null}}`},
		{"omit nulls drops null properties at every depth", []string{"caller"}, Options{OmitNulls: true, IncludeUnknownEnums: true},
			`{"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","platform":"web","productFamily":"azureCommunicationServices"},"associatedIdentity":{"id":"u","extra":{"b":[null,{}]}}}}`},
		{"absent non-nullable collections are empty, not null", []string{"failureInfo", "modalities", "isTest"}, Options{},
			`{"failureInfo":null,"isTest":null,"modalities":["audio","video"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel := &Selection{index: map[*schema.Property]bool{}}
			for _, n := range tc.sel {
				p := session.Property(n)
				sel.index[p] = true
				sel.Props = append(sel.Props, p)
			}
			if got := string(c.Object(nil, session, stored, sel, tc.o, false)); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
	hops := []byte(`{"connectionType":"wired"}`)
	got := string(c.Object(nil, typ(c.Model, "networkInfo"), hops, nil, Options{}, false))
	if !strings.Contains(got, `"traceRouteHops":[]`) || !strings.Contains(got, `"wifiBand":null`) {
		t.Errorf("networkInfo: %s", got)
	}
}

func TestCursorsAreSealedToTheirScope(t *testing.T) {
	c := Cursors{Key: []byte("k1-k1-k1-k1-k1-k1-k1-k1-k1-k1-k1")}
	scope := Scope{Tenant: "t", Resource: "callRecords('r')/sessions", Version: "v1.0", Shape: "(id)"}
	tok := c.Seal(scope, Position{N: 1234567, Key: "rec-ü"})
	if pos, err := c.Open(scope, tok); err != nil || pos != (Position{N: 1234567, Key: "rec-ü"}) {
		t.Fatalf("Open = %+v, %v", pos, err)
	}
	other := func(f func(*Scope)) Scope { s := scope; f(&s); return s }
	for name, s := range map[string]Scope{
		"tenant":   other(func(s *Scope) { s.Tenant = "u" }),
		"resource": other(func(s *Scope) { s.Resource = "callRecords('x')/sessions" }),
		"version":  other(func(s *Scope) { s.Version = "beta" }),
		"shape":    other(func(s *Scope) { s.Shape = "" }),
	} {
		if _, err := c.Open(s, tok); callvault.ErrorCode(err) != callvault.EINVALID {
			t.Errorf("a token opened in another %s: %v", name, err)
		}
	}
	if _, err := (Cursors{Key: []byte("another key, another deployment")}).Open(scope, tok); err == nil {
		t.Error("a token opened under another key")
	}
	for _, bad := range []string{"", "!!!", "AQ", tok[:len(tok)-1], tok + "A", strings.Repeat("A", 5000)} {
		if _, err := c.Open(scope, bad); callvault.ErrorCode(err) != callvault.EINVALID {
			t.Errorf("Open(%q) = %v", bad, err)
		}
	}
}

func TestParsePrefer(t *testing.T) {
	for _, tc := range []struct {
		headers []string
		want    Preferences
		err     bool
	}{
		{[]string{"odata.maxpagesize=10"}, Preferences{MaxPageSize: 10}, false},
		{[]string{`odata.maxpagesize="10", include-unknown-enum-members`, "omit-values=nulls"}, Preferences{10, true, true}, false},
		{[]string{"respond-async, wait=10; foo=bar"}, Preferences{}, false},
		{[]string{"ODATA.MAXPAGESIZE=5"}, Preferences{MaxPageSize: 5}, false},
		{[]string{"odata.maxpagesize"}, Preferences{}, true},
		{[]string{"odata.maxpagesize=-1"}, Preferences{}, true},
		{[]string{"omit-values=defaults"}, Preferences{}, true},
		// RFC 7240 §2: of a preference given more than once, only the first counts.
		{[]string{"odata.maxpagesize=5", "odata.maxpagesize=7"}, Preferences{MaxPageSize: 5}, false},
		{[]string{"odata.maxpagesize=5, odata.maxpagesize=many"}, Preferences{MaxPageSize: 5}, false},
		{[]string{"omit-values=nulls, omit-values=defaults"}, Preferences{OmitNulls: true}, false},
		// Any large page size is capped later, never a 400.
		{[]string{"odata.maxpagesize=1234567890123456789012345"}, Preferences{MaxPageSize: math.MaxInt}, false},
	} {
		got, err := ParsePrefer(tc.headers)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParsePrefer(%q) = %+v, %v", tc.headers, got, err)
		}
	}
	if got := (Preferences{MaxPageSize: 100, OmitNulls: true}).Applied(60); got != "odata.maxpagesize=60, omit-values=nulls" {
		t.Errorf("Applied = %q", got)
	}
}

func TestParseRecordFilter(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "startDateTime ge 2023-09-25T09:28:38Z and startDateTime lt 2023-09-25T14:03:40Z", want: "ge 2023-09-25T09:28:38Z lt 2023-09-25T14:03:40Z"},
		{in: "startDateTime gt 2024-05-01T12:00:00+02:00", want: "gt 2024-05-01T10:00:00Z"},
		{in: "(startDateTime le 2024-05-02) and startDateTime le 2024-05-03", want: " le 2024-05-02T00:00:00Z"},
		{in: "participants_v2/any(p:p/id eq '821809f5-0000-0000-0000-3b5136c0e777')", want: " p 821809f5-0000-0000-0000-3b5136c0e777"},
		{in: "participants_v2/any(x:x/id eq 'o''brien') and startDateTime ge 2024-01-01T00:00:00Z", want: "ge 2024-01-01T00:00:00Z p o'brien"},
		{in: "startdatetime ge 2024-05-01T10:00Z and STARTDATETIME lt 2024-05-01T12:30+02:00", want: "ge 2024-05-01T10:00:00Z lt 2024-05-01T10:30:00Z"},
		{in: "Participants_V2/Any(p:P/Id eq 'x')", want: " p x"},
		{in: "startDateTime ge 2024-05-01T10Z", err: "which is not a date-time"},
		{in: "startDateTime eq 2024-01-01T00:00:00Z", err: "The $filter part 'startDateTime eq' is not supported."},
		{in: "startDateTime ge 2024-01-01T00:00:00Z or startDateTime lt 2023-01-01T00:00:00Z", err: "The $filter part 'or' is not supported."},
		{in: "type eq 'groupCall'", err: "The $filter part 'type' is not supported."},
		{in: "startDateTime ge yesterday", err: "The $filter compares startDateTime with 'yesterday', which is not a date-time"},
		{in: "participants_v2/any(p:p/id eq 'a') and participants_v2/any(p:p/id eq 'b')", err: "names two participants"},
		{in: "(startDateTime ge 2024-01-01T00:00:00Z", err: "not closed"},
		{in: "participants_v2/any(p:p/id eq 'x", err: "not closed by a quote"},
	} {
		f, err := ParseRecordFilter(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: got %v, want an error with %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.err == "" && f.Shape() != tc.want:
			t.Errorf("%s: shape %q, want %q", tc.in, f.Shape(), tc.want)
		}
	}
}

// TestClipWrittenBoundsWhatAppendStringWrites holds ClipWritten to the
// bytes AppendString writes, whatever the text: at most n between the
// quotes, plus the ellipsis when cut; whole and unchanged when it fits.
func TestClipWrittenBoundsWhatAppendStringWrites(t *testing.T) {
	const n = 64
	for _, s := range []string{
		"", "plain", strings.Repeat("k", 200), strings.Repeat("\xff", 200), strings.Repeat("\x01", 200),
		strings.Repeat(`"\`, 100), strings.Repeat("é", 100), strings.Repeat("😀\xe6l", 60), "a\xffb\xfe\xfdc",
	} {
		for _, max := range []int{0, 1, 5, n} {
			got := ClipWritten(s, max)
			written := len(AppendString(nil, got)) - 2
			if got != strings.ToValidUTF8(s, "\uFFFD") {
				written -= len("…") // cut
			}
			if written > max {
				t.Errorf("ClipWritten(%q, %d) = %q: AppendString writes %d bytes of it", s, max, got, written)
			}
		}
	}
	if got := ClipWritten("a\xff\xfeb", n); got != "a\uFFFDb" {
		t.Errorf("a run of bad bytes: %q, want one U+FFFD", got)
	}
	if s := `fits "whole"` + "\n"; ClipWritten(s, n) != s {
		t.Errorf("a text that fits was changed: %q", ClipWritten(s, n))
	}
}

// TestFilterBoundsAtTheZeroInstant: 0001-01-01T00:00:00Z, which Graph
// writes for "no date", is a bound like any other, not the absence of one.
func TestFilterBoundsAtTheZeroInstant(t *testing.T) {
	zero := time.Time{}
	later := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		filter          string
		zeroIn, laterIn bool
	}{
		{"startDateTime lt 0001-01-01T00:00:00Z", false, false},
		{"startDateTime le 0001-01-01T00:00:00Z", true, false},
		{"startDateTime ge 0001-01-01T00:00:00Z", true, true},
		{"startDateTime gt 0001-01-01T00:00:00Z", false, true},
		{"startDateTime lt 0001-01-01T00:00:00Z and startDateTime gt 2024-01-01T00:00:00Z", false, false},
		{"startDateTime ge 0001-01-01T00:00:00Z and startDateTime le 0001-01-01T00:00:00Z", true, false},
	} {
		f, err := ParseRecordFilter(tc.filter)
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		if got := f.Start.Contains(zero); got != tc.zeroIn {
			t.Errorf("%s: contains the zero instant: %v, want %v", tc.filter, got, tc.zeroIn)
		}
		if got := f.Start.Contains(later); got != tc.laterIn {
			t.Errorf("%s: contains %s: %v, want %v", tc.filter, later, got, tc.laterIn)
		}
		// The stores read the range as keys: the same times.
		lo, hi, ok := f.Start.Keys()
		inKeys := func(tm time.Time) bool {
			k, _ := callvault.TimeKey(tm)
			return ok && lo <= k && k <= hi
		}
		if inKeys(zero) != tc.zeroIn || inKeys(later) != tc.laterIn {
			t.Errorf("%s: keys [%d, %d] %v disagree with Contains", tc.filter, lo, hi, ok)
		}
	}
}

// TestFilterSaysWhereAnOffsetsPlusWent: a '+' in a query string is a space,
// as on Graph, so an offset sent with a bare '+' arrives as " 02:00"; the
// 400 says how to send it.
func TestFilterSaysWhereAnOffsetsPlusWent(t *testing.T) {
	q, err := ParseQuery("$filter=startDateTime+ge+2024-06-01T02:00:00%2B02:00", "v1.0", nil, Rules{Filter: true})
	if err != nil || q.Filter != "startDateTime ge 2024-06-01T02:00:00+02:00" {
		t.Fatalf("%q, %v", q.Filter, err)
	}
	q, err = ParseQuery("$filter=startDateTime+ge+2024-06-01T02:00:00+02:00", "v1.0", nil, Rules{Filter: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseRecordFilter(q.Filter); err == nil || !strings.Contains(err.Error(), "Send the plus as %2B") {
		t.Errorf("an offset's lost plus: %v", err)
	}
}
