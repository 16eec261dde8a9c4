package throttle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// Limits are the buckets' limits, one per row of Graph's tables. A limit
// that is Off admits everything.
type Limits struct {
	Global            Limit // every Graph request of an app, across tenants (130,000 / 10 s)
	AppAllTenants     Limit // callRecords requests of an app, across tenants (15,000 / 20 s)
	Tenant            Limit // callRecords requests in a tenant, all apps (10,000 / 20 s)
	AppTenant         Limit // callRecords requests of an app in a tenant (1,500 / 20 s)
	CallRecord        Limit // requests under one call record id: sessions, segments, participants (40 / 20 s)
	ListCallRecords   Limit // GET /communications/callRecords and its $count (40 / 20 s)
	ReportsTenant     Limit // report functions in a tenant, all apps (1,000 / 60 s)
	ReportsAppTenant  Limit // report functions of an app in a tenant (200 / 60 s)
	ReportsCollection Limit // one report function of an app in a tenant (50 / 60 s)
}

// Graph returns Graph's documented limits: the callRecords and PSTN report
// tables of learn.microsoft.com/graph/throttling-limits and its global limit.
func Graph() Limits {
	return Limits{
		Global:            Limit{130_000, 10 * time.Second},
		AppAllTenants:     Limit{15_000, 20 * time.Second},
		Tenant:            Limit{10_000, 20 * time.Second},
		AppTenant:         Limit{1_500, 20 * time.Second},
		CallRecord:        Limit{40, 20 * time.Second},
		ListCallRecords:   Limit{40, 20 * time.Second},
		ReportsTenant:     Limit{1_000, 60 * time.Second},
		ReportsAppTenant:  Limit{200, 60 * time.Second},
		ReportsCollection: Limit{50, 60 * time.Second},
	}
}

// fields lists the limits under their profile names.
func (l *Limits) fields() []struct {
	name  string
	limit *Limit
} {
	return []struct {
		name  string
		limit *Limit
	}{
		{"global", &l.Global},
		{"perAppAllTenants", &l.AppAllTenants},
		{"perTenant", &l.Tenant},
		{"perAppPerTenant", &l.AppTenant},
		{"perCallRecord", &l.CallRecord},
		{"listCallRecords", &l.ListCallRecords},
		{"reportsPerTenant", &l.ReportsTenant},
		{"reportsPerAppPerTenant", &l.ReportsAppTenant},
		{"reportsPerCollection", &l.ReportsCollection},
	}
}

// Names returns the profile names of the limits, in the tables' order.
func Names() []string {
	var l Limits
	var names []string
	for _, f := range l.fields() {
		names = append(names, f.name)
	}
	return names
}

// profile is the JSON of a --throttle FILE:
//
//	{"scale": 0.1, "limits": {"perCallRecord": {"requests": 5, "window": "10s"}, "global": "off"}}
//
// Every limit starts at Graph's; "scale" multiplies every limit's requests
// (rounded up, at least 1); an entry of "limits" replaces a limit's requests
// or window, scales it alone ({"scale": 2}), or turns it off ("off").
type profile struct {
	Scale  *float64                   `json:"scale"`
	Limits map[string]json.RawMessage `json:"limits"`
}

type limitEntry struct {
	Requests *int     `json:"requests"`
	Window   *string  `json:"window"`
	Scale    *float64 `json:"scale"`
}

// ParseLimits reads a throttling profile (see the package docs/throttling.md),
// starting from Graph's limits. Errors name the member at fault.
func ParseLimits(data []byte) (Limits, error) {
	l := Graph()
	var p profile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return l, fmt.Errorf("throttling profile: %w", err)
	}
	if dec.More() {
		return l, fmt.Errorf("throttling profile: more than one JSON value")
	}
	if p.Scale != nil {
		if err := checkScale(*p.Scale); err != nil {
			return l, fmt.Errorf("throttling profile: scale: %w", err)
		}
		for _, f := range l.fields() {
			f.limit.Requests = scale(f.limit.Requests, *p.Scale)
		}
	}
	known := map[string]*Limit{}
	for _, f := range l.fields() {
		known[f.name] = f.limit
	}
	for name, raw := range p.Limits {
		lim, ok := known[name]
		if !ok {
			return l, fmt.Errorf("throttling profile: limits: unknown limit %q (known: %s)", name, strings.Join(Names(), ", "))
		}
		if err := lim.apply(raw); err != nil {
			return l, fmt.Errorf("throttling profile: limits.%s: %w", name, err)
		}
	}
	return l, nil
}

func (lim *Limit) apply(raw json.RawMessage) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s != "off" {
			return fmt.Errorf(`%q: a limit is an object or "off"`, s)
		}
		*lim = Limit{}
		return nil
	}
	var e limitEntry
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return fmt.Errorf(`a limit is {"requests": N, "window": "20s", "scale": X} or "off": %w`, err)
	}
	if e.Scale != nil {
		if err := checkScale(*e.Scale); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
		lim.Requests = scale(lim.Requests, *e.Scale)
	}
	if e.Requests != nil {
		if *e.Requests < 1 {
			return fmt.Errorf("requests: %d: must be 1 or more", *e.Requests)
		}
		lim.Requests = *e.Requests
	}
	if e.Window != nil {
		w, err := time.ParseDuration(*e.Window)
		if err != nil || w < time.Millisecond || w > 24*time.Hour {
			return fmt.Errorf("window: %q: a duration from 1ms to 24h, such as \"20s\"", *e.Window)
		}
		lim.Window = w
	}
	return nil
}

func checkScale(f float64) error {
	if math.IsNaN(f) || f <= 0 || f > 1e6 {
		return fmt.Errorf("%v: must be above 0 and at most 1000000", f)
	}
	return nil
}

func scale(n int, f float64) int {
	if n <= 0 {
		return n
	}
	return max(1, int(math.Ceil(float64(n)*f)))
}

// LoadLimits reads the value of serve --throttle: "graph" (Graph's limits),
// "off" (no throttling: ok is false) or the name of a profile file.
func LoadLimits(spec string) (l Limits, ok bool, err error) {
	switch spec {
	case "", "off":
		return Limits{}, false, nil
	case "graph":
		return Graph(), true, nil
	}
	data, err := os.ReadFile(spec)
	if err != nil {
		return Limits{}, false, err
	}
	l, err = ParseLimits(data)
	if err != nil {
		return Limits{}, false, fmt.Errorf("%s: %w", spec, err)
	}
	return l, true, nil
}
