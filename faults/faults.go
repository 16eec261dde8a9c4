// Package faults reads and applies fault profiles: per route pattern and
// method, deterministic (seeded) rates of errors Graph is seen to answer
// (429, 500, 502, 503 with or without Retry-After, 504, 4xx with an empty
// message), latency, dropped connections, and records that are "not yet
// there" until some minutes after they ended.
//
// It is a package of its own beside throttle because the two answer
// different questions: throttle counts requests against Graph's documented
// buckets and has state to share across replicas; faults draws from a
// seeded sequence and has none. serve composes them in one graph.Gate.
package faults

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

// Profile is a parsed fault profile. The first rule whose route and
// method match a request applies to it.
type Profile struct {
	Seed  uint64
	Rules []*Rule
}

// Rule is one entry of a profile's "rules".
type Rule struct {
	Name    string
	Route   []string // the pattern's segments; "*" is any one segment, a final "**" any rest
	Methods []string // upper case; empty matches every method
	Faults  []Fault
	Latency *Latency
	// NotYetThere makes a call record 404 until this long after its
	// endDateTime (0: off).
	NotYetThere time.Duration

	index int
	n     atomic.Uint64 // the requests the rule matched: the draw's sequence number
}

// Fault is an answer given at Rate (0 to 1) of the requests a rule matches.
type Fault struct {
	Rate       float64
	Status     int    // 0 with Drop
	Code       string // Graph's error code; the status's default when empty
	Message    string // written as given, "" included
	RetryAfter string // the Retry-After header ("2", "2.128"); "" for none
	Drop       bool   // close the connection without an answer
}

// Latency is a distribution of delays added before the answer.
type Latency struct {
	Distribution string // fixed, uniform or lognormal
	Min, Max     time.Duration
	Median, P99  time.Duration // lognormal
}

// Outcome is what a profile decides for one request.
type Outcome struct {
	Rule  string        // the rule's name (or its route), for logs
	Delay time.Duration // wait this long first
	Fault *Fault        // answer this instead; nil to serve the request
	// NotYetThere is the rule's setting: the caller looks the record up
	// and answers 404 until its endDateTime plus this.
	NotYetThere time.Duration
}

// Decide returns the outcome for a request; it is deterministic for a seed
// and the order in which each rule sees its requests. escapedPath is the
// path after /{version}/.
func (p *Profile) Decide(method, escapedPath string) Outcome {
	segs := requestSegments(escapedPath)
	for _, r := range p.Rules {
		if !r.matches(method, segs) {
			continue
		}
		n := r.n.Add(1)
		o := Outcome{Rule: r.Name, NotYetThere: r.NotYetThere}
		u := unit(p.Seed, uint64(r.index), n, 0)
		var cum float64
		for i := range r.Faults {
			cum += r.Faults[i].Rate
			if u < cum {
				o.Fault = &r.Faults[i]
				break
			}
		}
		if r.Latency != nil {
			o.Delay = r.Latency.draw(unit(p.Seed, uint64(r.index), n, 1))
		}
		return o
	}
	return Outcome{}
}

func (r *Rule) matches(method string, segs []string) bool {
	if len(r.Methods) > 0 {
		ok := false
		for _, m := range r.Methods {
			ok = ok || m == method
		}
		if !ok {
			return false
		}
	}
	for i, pat := range r.Route {
		if pat == "**" {
			return true
		}
		if i >= len(segs) {
			return false
		}
		if pat != "*" && !strings.EqualFold(pat, segs[i]) && !functionMatch(pat, segs[i]) {
			return false
		}
	}
	return len(segs) == len(r.Route)
}

// functionMatch lets a pattern segment "getPstnCalls(*)" match a call of
// that function with any parameters, and "*(*)" a call of any function.
func functionMatch(pat, seg string) bool {
	p, ok := strings.CutSuffix(pat, "(*)")
	name, _, called := strings.Cut(seg, "(")
	return ok && called && (p == "*" || strings.EqualFold(p, name))
}

func splitPath(escaped string) []string {
	var segs []string
	for s := range strings.SplitSeq(escaped, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	return segs
}

// requestSegments splits a request's escaped path for matching, in the form
// patterns are written: unescaped; a key in parentheses, callRecords('x'),
// as a segment of its own, callRecords/x; a function without its
// namespace, getPstnCalls(…).
func requestSegments(escaped string) []string {
	var segs []string
	for _, s := range splitPath(escaped) {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		name, args, ok := strings.Cut(s, "(")
		if ok && strings.HasSuffix(args, ")") {
			if !strings.Contains(args, "=") {
				segs = append(segs, name, strings.Trim(strings.TrimSuffix(args, ")"), "'"))
				continue
			}
			s = name[strings.LastIndexByte(name, '.')+1:] + "(" + args
		}
		segs = append(segs, s)
	}
	return segs
}

// unit is a uniform draw in [0, 1) from the seed, the rule, the request's
// number and the draw's purpose: splitmix64 over their mix.
func unit(seed, rule, n, purpose uint64) float64 {
	x := seed ^ rule*0x9e3779b97f4a7c15 ^ n*0xbf58476d1ce4e5b9 ^ purpose*0x94d049bb133111eb
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

func (l *Latency) draw(u float64) time.Duration {
	switch l.Distribution {
	case "fixed":
		return l.Min
	case "uniform":
		return l.Min + time.Duration(u*float64(l.Max-l.Min))
	}
	// lognormal: median m, 99th percentile p: sigma = ln(p/m) / z(0.99).
	mu := math.Log(float64(l.Median))
	sigma := math.Log(float64(l.P99)/float64(l.Median)) / 2.3263478740408408
	z := math.Sqrt2 * math.Erfinv(2*math.Max(u, 1e-12)-1)
	d := time.Duration(math.Exp(mu + sigma*z))
	if l.Max > 0 && d > l.Max {
		d = l.Max
	}
	return d
}

// Defaults are each fault status's code and message when a profile gives
// none: the 500 is the message Graph answered during its 2020-06-19
// incident; 4xx messages are empty, as observed on Graph.
var defaults = map[int][2]string{
	http.StatusInternalServerError: {"InternalServerError", "Object reference not set to an instance of an object."},
	http.StatusBadGateway:          {"BadGateway", "The service is temporarily unreachable."},
	http.StatusServiceUnavailable:  {"serviceNotAvailable", "The service is temporarily unavailable for maintenance or is overloaded. Retry the request after a delay."},
	http.StatusGatewayTimeout:      {"GatewayTimeout", "The operation timed out."},
	http.StatusBadRequest:          {"BadRequest", ""},
	http.StatusUnauthorized:        {"InvalidAuthenticationToken", ""},
	http.StatusForbidden:           {"Forbidden", ""},
	http.StatusNotFound:            {"NotFound", ""},
	http.StatusConflict:            {"Conflict", ""},
}

// JSON shapes of a profile file.
type profileJSON struct {
	Seed  *uint64    `json:"seed"`
	Rules []ruleJSON `json:"rules"`
}

type ruleJSON struct {
	Name        string      `json:"name"`
	Route       string      `json:"route"`
	Methods     []string    `json:"methods"`
	Faults      []faultJSON `json:"faults"`
	Latency     *latJSON    `json:"latency"`
	NotYetThere string      `json:"notYetThere"`
}

type faultJSON struct {
	Rate       float64 `json:"rate"`
	Status     int     `json:"status"`
	Code       *string `json:"code"`
	Message    *string `json:"message"`
	RetryAfter *string `json:"retryAfter"`
	Drop       bool    `json:"drop"`
}

type latJSON struct {
	Distribution string `json:"distribution"`
	Min          string `json:"min"`
	Max          string `json:"max"`
	Median       string `json:"median"`
	P99          string `json:"p99"`
}

var retryAfterRE = regexp.MustCompile(`^[0-9]{1,6}(\.[0-9]{1,6})?$`)

var methodRE = regexp.MustCompile(`^[A-Z]{1,16}$`)

// Parse reads a fault profile. Its errors name the member at fault, such
// as "rules[2]: faults[0]: retryAfter".
func Parse(data []byte) (*Profile, error) {
	var pj profileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pj); err != nil {
		return nil, fmt.Errorf("fault profile: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("fault profile: more than one JSON value")
	}
	if pj.Seed == nil {
		return nil, fmt.Errorf(`fault profile: "seed" is required (any integer: the same seed gives the same faults)`)
	}
	if len(pj.Rules) == 0 {
		return nil, fmt.Errorf(`fault profile: "rules" is empty`)
	}
	p := &Profile{Seed: *pj.Seed}
	for i, rj := range pj.Rules {
		r, err := rj.rule(i)
		if err != nil {
			return nil, fmt.Errorf("fault profile: rules[%d]: %w", i, err)
		}
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

func (rj ruleJSON) rule(i int) (*Rule, error) {
	r := &Rule{Name: rj.Name, index: i}
	route := strings.Trim(rj.Route, "/")
	if route == "" {
		return nil, fmt.Errorf(`route: empty; a path after /v1.0/ or /beta/ such as "communications/callRecords/*/sessions" ("*" is one segment, a final "**" the rest)`)
	}
	r.Route = splitPath(route)
	for j, s := range r.Route {
		if s == "**" && j != len(r.Route)-1 {
			return nil, fmt.Errorf(`route: %q: "**" may only end the pattern`, rj.Route)
		}
		if strings.Contains(s, "**") && s != "**" || strings.Contains(s, "*") && s != "*" && s != "**" && !strings.HasSuffix(s, "(*)") {
			return nil, fmt.Errorf(`route: %q: "*" must be a whole segment or a function's parameters, "getPstnCalls(*)"`, rj.Route)
		}
	}
	if r.Name == "" {
		r.Name = route
	}
	for _, m := range rj.Methods {
		if !methodRE.MatchString(m) {
			return nil, fmt.Errorf("methods: %q: an HTTP method in capitals, such as GET", m)
		}
		r.Methods = append(r.Methods, m)
	}
	var sum float64
	for j, fj := range rj.Faults {
		f, err := fj.fault()
		if err != nil {
			return nil, fmt.Errorf("faults[%d]: %w", j, err)
		}
		sum += f.Rate
		r.Faults = append(r.Faults, f)
	}
	if sum > 1+1e-9 {
		return nil, fmt.Errorf("faults: the rates add up to %v, more than 1", sum)
	}
	if rj.Latency != nil {
		l, err := rj.Latency.latency()
		if err != nil {
			return nil, fmt.Errorf("latency: %w", err)
		}
		r.Latency = l
	}
	if rj.NotYetThere != "" {
		d, err := time.ParseDuration(rj.NotYetThere)
		if err != nil || d <= 0 || d > 7*24*time.Hour {
			return nil, fmt.Errorf(`notYetThere: %q: a duration from 1ns to 168h, such as "15m"`, rj.NotYetThere)
		}
		r.NotYetThere = d
	}
	if len(r.Faults) == 0 && r.Latency == nil && r.NotYetThere == 0 {
		return nil, fmt.Errorf(`the rule does nothing: give it "faults", "latency" or "notYetThere"`)
	}
	return r, nil
}

func (fj faultJSON) fault() (Fault, error) {
	f := Fault{Rate: fj.Rate, Status: fj.Status, Drop: fj.Drop}
	if math.IsNaN(f.Rate) || f.Rate <= 0 || f.Rate > 1 {
		return f, fmt.Errorf("rate: %v: must be above 0 and at most 1", fj.Rate)
	}
	if f.Drop {
		if f.Status != 0 || fj.Code != nil || fj.Message != nil || fj.RetryAfter != nil {
			return f, fmt.Errorf(`a dropped connection has no "status", "code", "message" or "retryAfter"`)
		}
		return f, nil
	}
	def, known := defaults[f.Status]
	switch {
	case f.Status == http.StatusTooManyRequests:
		if fj.Code != nil || fj.Message != nil {
			return f, fmt.Errorf(`status 429 writes Graph's throttling body: it takes no "code" or "message"`)
		}
	case known, f.Status >= 400 && f.Status < 500:
	default:
		return f, fmt.Errorf("status: %d: one of 429, 500, 502, 503, 504 or another 4xx (or \"drop\": true)", f.Status)
	}
	f.Code, f.Message = def[0], def[1]
	if f.Code == "" {
		f.Code = "BadRequest"
	}
	if fj.Code != nil {
		if *fj.Code == "" || len(*fj.Code) > 64 {
			return f, fmt.Errorf("code: %q: 1 to 64 characters", *fj.Code)
		}
		f.Code = *fj.Code
	}
	if fj.Message != nil {
		if len(*fj.Message) > 1024 {
			return f, fmt.Errorf("message: longer than 1024 bytes")
		}
		f.Message = *fj.Message
	}
	if fj.RetryAfter != nil {
		if !retryAfterRE.MatchString(*fj.RetryAfter) {
			return f, fmt.Errorf(`retryAfter: %q: seconds, whole ("2") or fractional ("2.128")`, *fj.RetryAfter)
		}
		f.RetryAfter = *fj.RetryAfter
	}
	return f, nil
}

func (lj latJSON) latency() (*Latency, error) {
	l := &Latency{Distribution: lj.Distribution}
	dur := func(name, s string, required bool) (time.Duration, error) {
		if s == "" && !required {
			return 0, nil
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > 10*time.Minute {
			return 0, fmt.Errorf(`%s: %q: a duration from 0 to 10m, such as "250ms"`, name, s)
		}
		return d, nil
	}
	var err error
	switch lj.Distribution {
	case "fixed":
		if l.Min, err = dur("min", lj.Min, true); err != nil {
			return nil, err
		}
	case "uniform":
		if l.Min, err = dur("min", lj.Min, true); err != nil {
			return nil, err
		}
		if l.Max, err = dur("max", lj.Max, true); err != nil {
			return nil, err
		}
		if l.Max < l.Min {
			return nil, fmt.Errorf("max %v is below min %v", l.Max, l.Min)
		}
	case "lognormal":
		if l.Median, err = dur("median", lj.Median, true); err != nil {
			return nil, err
		}
		if l.P99, err = dur("p99", lj.P99, true); err != nil {
			return nil, err
		}
		if l.Max, err = dur("max", lj.Max, false); err != nil {
			return nil, err
		}
		if l.Median <= 0 || l.P99 < l.Median {
			return nil, fmt.Errorf("median must be above 0 and p99 at least the median")
		}
		if l.Max == 0 {
			l.Max = 10 * time.Minute
		}
	default:
		return nil, fmt.Errorf(`distribution: %q: fixed (min), uniform (min, max) or lognormal (median, p99, optional max)`, lj.Distribution)
	}
	return l, nil
}

// Shipped holds the profiles that ship with callvault, by file name.
//
//go:embed profiles/*.json
var Shipped embed.FS

// Load reads a profile: the name of a shipped one (graph-typical, chaos)
// or a file.
func Load(file string) (*Profile, error) {
	data, err := Shipped.ReadFile("profiles/" + file + ".json")
	if err != nil || strings.ContainsAny(file, "/.") {
		if data, err = os.ReadFile(file); err != nil {
			return nil, err
		}
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return p, nil
}
