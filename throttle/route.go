package throttle

import (
	"net/url"
	"strings"
)

// Kind is the class of a Graph request for throttling.
type Kind int

const (
	// Other is a Graph request outside the callRecords API, such as
	// /subscriptions or a path Graph answers with an error: only the global
	// limit applies.
	Other Kind = iota
	// List is GET /communications/callRecords (and its $count).
	List
	// Record is a request under one call record id.
	Record
	// Report is a call to one of the report functions (getPstnCalls…).
	Report
	// CallRecords is another request under /communications/callRecords,
	// such as an unknown segment: the callRecords API's limits apply, but
	// no per-record or list bucket.
	CallRecords
)

// Route is what throttling needs of a request's path.
type Route struct {
	Kind     Kind
	Record   string // the call record id, for Record
	Function string // the report function's name, for Report
}

// RouteOf classifies the escaped path after /{version}/, as package graph
// resolves it: keys as their own segment (callRecords/{id}) or in
// parentheses (callRecords('{id}')), functions with or without their
// namespace (microsoft.graph.callRecords.getPstnCalls(…)).
func RouteOf(escaped string) Route {
	var segs []string
	for s := range strings.SplitSeq(escaped, "/") {
		if s == "" {
			continue
		}
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		segs = append(segs, s)
		if len(segs) == 3 {
			break
		}
	}
	if len(segs) < 2 || !strings.EqualFold(segs[0], "communications") {
		return Route{Kind: Other}
	}
	name, key, hasKey := segs[1], "", false
	if i := strings.IndexByte(name, '('); i >= 0 && strings.HasSuffix(name, ")") {
		name, key, hasKey = name[:i], strings.Trim(name[i+1:len(name)-1], "'"), true
	}
	if !strings.EqualFold(name, "callRecords") {
		return Route{Kind: Other}
	}
	if !hasKey {
		if len(segs) < 3 || segs[2] == "$count" {
			return Route{Kind: List}
		}
		key = segs[2]
		if i := strings.IndexByte(key, '('); i >= 0 {
			fn := key[:i]
			fn = fn[strings.LastIndexByte(fn, '.')+1:]
			return Route{Kind: Report, Function: fn}
		}
	}
	if key == "" {
		return Route{Kind: CallRecords}
	}
	return Route{Kind: Record, Record: key}
}

// BucketsOf returns the buckets a request of app in tenant on rt falls in,
// under limits l: the keys say whose requests each counts.
func BucketsOf(l Limits, rt Route, tenant, app string) []Bucket {
	bs := make([]Bucket, 0, 5)
	add := func(name string, lim Limit, key string) {
		if !lim.Off() {
			bs = append(bs, Bucket{Name: name, Key: name + "|" + key, Limit: lim})
		}
	}
	add("global", l.Global, app)
	switch rt.Kind {
	case List, Record, CallRecords:
		add("perAppAllTenants", l.AppAllTenants, app)
		add("perTenant", l.Tenant, tenant)
		add("perAppPerTenant", l.AppTenant, tenant+"|"+app)
		switch rt.Kind {
		case List:
			add("listCallRecords", l.ListCallRecords, tenant+"|"+app)
		case Record:
			add("perCallRecord", l.CallRecord, tenant+"|"+app+"|"+rt.Record)
		}
	case Report:
		add("reportsPerTenant", l.ReportsTenant, tenant)
		add("reportsPerAppPerTenant", l.ReportsAppTenant, tenant+"|"+app)
		add("reportsPerCollection", l.ReportsCollection, tenant+"|"+app+"|"+strings.ToLower(rt.Function))
	}
	return bs
}
