package faults_test

import (
	"io/fs"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/faults"
)

// TestShippedProfilesAreValid: every profile in faults/profiles parses, and
// `--faults NAME` finds it by name.
func TestShippedProfilesAreValid(t *testing.T) {
	names, err := fs.Glob(faults.Shipped, "profiles/*.json")
	if err != nil || len(names) < 2 {
		t.Fatalf("shipped profiles: %v %v", names, err)
	}
	for _, name := range names {
		name = strings.TrimSuffix(strings.TrimPrefix(name, "profiles/"), ".json")
		if _, err := faults.Load(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"graph-typical", "chaos"} {
		if _, err := faults.Load(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

const profile = `{"seed": 7, "rules": [
  {"route": "communications/callRecords/*(*)", "faults": [{"rate": 1, "status": 504}]},
  {"name": "records", "route": "communications/callRecords/*/**", "methods": ["GET"],
   "faults": [{"rate": 0.1, "status": 503, "retryAfter": "2.128"}, {"rate": 0.05, "drop": true}, {"rate": 0.05, "status": 404}],
   "latency": {"distribution": "uniform", "min": "10ms", "max": "20ms"}, "notYetThere": "15m"},
  {"route": "subscriptions/**", "faults": [{"rate": 1, "status": 429, "retryAfter": "3"}]}
]}`

func TestDecideMatchesRoutesAndMethods(t *testing.T) {
	p, err := faults.Parse([]byte(profile))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, rule string }{
		{"GET", "communications/callRecords/getPstnCalls(fromDateTime=2026-11-01,toDateTime=2026-11-02)", "communications/callRecords/*(*)"},
		{"GET", "communications/callRecords/microsoft.graph.callRecords.getSmsLog(fromDateTime=2026-11-01,toDateTime=2026-11-02)", "communications/callRecords/*(*)"},
		{"GET", "communications/callRecords/r1", "records"},
		{"GET", "communications/callRecords('r1')/sessions", "records"},
		{"GET", "Communications/CallRecords/r1/sessions/s1/segments", "records"},
		{"POST", "communications/callRecords/r1", ""},
		{"GET", "communications/callRecords", ""},
		{"POST", "subscriptions", "subscriptions/**"},
		{"DELETE", "subscriptions/abc", "subscriptions/**"},
	} {
		if got := p.Decide(tc.method, tc.path).Rule; got != tc.rule {
			t.Errorf("%s %s: rule %q, want %q", tc.method, tc.path, got, tc.rule)
		}
	}
}

// TestDecideIsSeededAndKeepsItsRates: the same seed gives the same faults
// in the same order, and over many requests each fault comes at its rate.
func TestDecideIsSeededAndKeepsItsRates(t *testing.T) {
	run := func() (string, map[string]int, time.Duration, time.Duration) {
		p, err := faults.Parse([]byte(profile))
		if err != nil {
			t.Fatal(err)
		}
		var seq strings.Builder
		counts := map[string]int{}
		lo, hi := time.Hour, time.Duration(0)
		for i := range 100_000 {
			o := p.Decide("GET", "communications/callRecords/r1/sessions")
			k := "ok"
			if f := o.Fault; f != nil {
				k = map[bool]string{true: "drop", false: f.Code}[f.Drop]
			}
			counts[k]++
			if i < 200 {
				seq.WriteString(k[:1])
			}
			lo, hi = min(lo, o.Delay), max(hi, o.Delay)
			if o.NotYetThere != 15*time.Minute {
				t.Fatalf("notYetThere %v", o.NotYetThere)
			}
		}
		return seq.String(), counts, lo, hi
	}
	seq1, counts, lo, hi := run()
	seq2, _, _, _ := run()
	if seq1 != seq2 {
		t.Errorf("two runs with one seed differ:\n%s\n%s", seq1, seq2)
	}
	for k, rate := range map[string]float64{"serviceNotAvailable": 0.1, "drop": 0.05, "NotFound": 0.05, "ok": 0.8} {
		if got := float64(counts[k]) / 100_000; math.Abs(got-rate) > 0.01 {
			t.Errorf("%s: rate %.4f, want %.2f", k, got, rate)
		}
	}
	if lo < 10*time.Millisecond || hi > 20*time.Millisecond || hi-lo < 9*time.Millisecond {
		t.Errorf("latency from %v to %v, want across 10ms to 20ms", lo, hi)
	}
}

func TestLognormalLatency(t *testing.T) {
	p, err := faults.Parse([]byte(`{"seed":1,"rules":[{"route":"**","latency":{"distribution":"lognormal","median":"100ms","p99":"1s","max":"2s"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var below, p99 int
	for range 100_000 {
		d := p.Decide("GET", "x").Delay
		if d <= 100*time.Millisecond {
			below++
		}
		if d <= time.Second {
			p99++
		}
		if d > 2*time.Second || d <= 0 {
			t.Fatalf("delay %v out of (0, 2s]", d)
		}
	}
	if math.Abs(float64(below)/1e5-0.5) > 0.01 || math.Abs(float64(p99)/1e5-0.99) > 0.002 {
		t.Errorf("median share %.4f (want 0.5), p99 share %.4f (want 0.99)", float64(below)/1e5, float64(p99)/1e5)
	}
}

// TestParseErrorsNameTheMember: a bad profile is refused on start with the
// path of what is wrong and what would be right.
func TestParseErrorsNameTheMember(t *testing.T) {
	for in, want := range map[string]string{
		`{"rules":[]}`:                                  `"seed" is required`,
		`{"seed":1,"rules":[]}`:                         `"rules" is empty`,
		`{"seed":1,"rules":[{"route":"**"}]}`:           "rules[0]: the rule does nothing",
		`{"seed":1,"rules":[{"route":"","faults":[]}]}`: "rules[0]: route: empty",
		`{"seed":1,"rules":[{"route":"**/x","faults":[{"rate":1,"status":500}]}]}`:                           `"**" may only end the pattern`,
		`{"seed":1,"rules":[{"route":"a*","faults":[{"rate":1,"status":500}]}]}`:                             `"*" must be a whole segment`,
		`{"seed":1,"rules":[{"route":"**","methods":["get"],"faults":[{"rate":1,"status":500}]}]}`:           `methods: "get"`,
		`{"seed":1,"rules":[{"route":"**","faults":[{"rate":0.6,"status":500},{"rate":0.6,"status":503}]}]}`: "add up to 1.2",
		`{"seed":1,"rules":[{"route":"**","faults":[{"rate":0,"status":500}]}]}`:                             "rules[0]: faults[0]: rate: 0",
		`{"seed":1,"rules":[{"route":"**","faults":[{"rate":1,"status":200}]}]}`:                             "faults[0]: status: 200",
		`{"seed":1,"rules":[{"route":"**","faults":[{"rate":1,"status":503,"retryAfter":"soon"}]}]}`:         `retryAfter: "soon"`,
		`{"seed":1,"rules":[{"route":"**","faults":[{"rate":1,"status":429,"message":"x"}]}]}`:               "takes no",
		`{"seed":1,"rules":[{"route":"**","faults":[{"rate":1,"drop":true,"status":500}]}]}`:                 "a dropped connection has no",
		`{"seed":1,"rules":[{"route":"**","latency":{"distribution":"normal"}}]}`:                            `latency: distribution: "normal"`,
		`{"seed":1,"rules":[{"route":"**","latency":{"distribution":"uniform","min":"2s","max":"1s"}}]}`:     "max 1s is below min 2s",
		`{"seed":1,"rules":[{"route":"**","notYetThere":"later"}]}`:                                          `notYetThere: "later"`,
		`{"seed":1,"rules":[{"route":"**","faults":[{"rate":1,"status":500}]}],"extra":1}`:                   `unknown field "extra"`,
	} {
		if _, err := faults.Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want an error with %q", in, err, want)
		}
	}
}

// FuzzParse: no input makes Parse panic, and a profile it accepts decides
// without panicking, with its faults inside what the format allows.
func FuzzParse(f *testing.F) {
	f.Add([]byte(profile))
	for _, name := range []string{"graph-typical", "chaos"} {
		b, err := faults.Shipped.ReadFile("profiles/" + name + ".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"seed":1,"rules":[{"route":"**","latency":{"distribution":"lognormal","median":"1ns","p99":"10m"}}]}`))
	f.Add([]byte(`{"seed":18446744073709551615,"rules":[{"route":"*(*)/**","faults":[{"rate":1e-300,"status":499,"code":"x","message":""}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := faults.Parse(data)
		if err != nil {
			return
		}
		for _, path := range []string{"", "communications/callRecords/r1/sessions", "communications/callRecords('x')", "subscriptions", "a/b/c/getPstnCalls(x=1)"} {
			for _, m := range []string{"GET", "POST"} {
				o := p.Decide(m, path)
				if o.Delay < 0 || o.Delay > 10*time.Minute {
					t.Fatalf("delay %v", o.Delay)
				}
				if f := o.Fault; f != nil && !f.Drop && (f.Status < 400 || f.Status > 599) {
					t.Fatalf("status %d", f.Status)
				}
			}
		}
	})
}
