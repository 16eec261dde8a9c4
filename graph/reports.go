package graph

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/schema"
)

// ReportPage is the page size of the report functions.
const ReportPage = 1000

// reportSpec holds what Graph's documentation says of each report function
// that the schema does not: the bound of toDateTime, the longest range and
// where the next link goes. The pages disagree with each other; each is
// copied as documented (docs/graph-fidelity.md).
type reportSpec struct {
	toInclusive   bool
	maxDays       int  // 0: no limit documented
	nextLinkFirst bool // @odata.nextLink before value, as the getSmsLog example has it
	unranged      bool // the rows carry no date: the range is checked but selects nothing
}

var reportSpecs = map[string]reportSpec{
	"getPstnCalls":                      {toInclusive: true, maxDays: 90},
	"getDirectRoutingCalls":             {toInclusive: false},
	"getSmsLog":                         {toInclusive: true, maxDays: 90, nextLinkFirst: true},
	"getPstnBlockedUsersLog":            {toInclusive: true},
	"getPstnOnlineMeetingDialoutReport": {toInclusive: true, unranged: true},
}

var reportRules = odata.Rules{Resource: "a report function", Skip: true}

// report serves the report functions bound to callRecords, such as
// GET …/callRecords/getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01):
// rows whose time lies in the range, 1000 a page, paged with $skip.
func (s *Server) report(w http.ResponseWriter, req *request) error {
	r := req.r
	name := req.route.function
	fn := req.codec.Model.Function(name)
	spec := reportSpecs[name]
	rowType := req.codec.Model.Type(strings.TrimSuffix(strings.TrimPrefix(fn.ReturnType, "Collection("), ")"))
	q, err := odata.ParseQuery(r.URL.RawQuery, req.version, rowType, reportRules)
	if err != nil {
		return err
	}
	rng, err := functionRange(fn, req.route.functionArgs, spec)
	if err != nil {
		return err
	}
	if spec.unranged {
		// The dial-out report's rows are totals with no date of their
		// own: callvault returns the rows imported for the tenant.
		rng = callvault.TimeRange{}
	}
	size := req.prefs.PageSize(ReportPage)
	t0 := time.Now()
	page, err := s.Store.ListReportRows(r.Context(), callvault.ReportQuery{
		Tenant: req.principal.Tenant, Kind: rowType.ShortName(), Range: rng, Offset: q.Skip, Limit: size,
	})
	storeTime(r, t0)
	if err != nil {
		return err
	}
	var next string
	if page.More {
		next = s.PublicURL + r.URL.EscapedPath() + "?" + q.NextSkip(q.Skip+len(page.Rows))
	}
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"@odata.context":`...)
	b = odata.AppendString(b, s.metadata(req.version)+"Collection("+rowType.Name+")")
	// The count of rows in this page, as the documentation words it.
	b = append(b, `,"@odata.count":`...)
	b = strconv.AppendInt(b, int64(len(page.Rows)), 10)
	if next != "" && spec.nextLinkFirst {
		b = append(b, `,"@odata.nextLink":`...)
		b = odata.AppendString(b, next)
	}
	b = append(b, `,"value":`...)
	b = req.codec.Collection(b, rowType, page.Rows, nil, options(req.prefs))
	if next != "" && !spec.nextLinkFirst {
		b = append(b, `,"@odata.nextLink":`...)
		b = odata.AppendString(b, next)
	}
	b = append(b, '}')
	*bp = b
	s.send(w, r, b, req.prefs.Applied(size))
	return nil
}

// functionRange parses fromDateTime and toDateTime from a function's
// parameter text and checks them as the function's documentation asks.
func functionRange(fn *schema.Function, args string, spec reportSpec) (callvault.TimeRange, error) {
	values := map[string]string{}
	for _, arg := range strings.Split(args, ",") {
		if strings.TrimSpace(arg) == "" {
			continue
		}
		name, value, ok := strings.Cut(arg, "=")
		name = strings.TrimSpace(name)
		known := false
		for _, p := range fn.Parameters {
			known = known || p.Name == name
		}
		if !ok || !known {
			return callvault.TimeRange{}, callvault.Errorf(callvault.EINVALID, "%s takes the parameters fromDateTime and toDateTime, as in %s(fromDateTime=2024-05-01,toDateTime=2024-05-31); '%s' is not one of them.", fn.Name, fn.Name, clipText(arg))
		}
		if _, dup := values[name]; dup {
			return callvault.TimeRange{}, callvault.Errorf(callvault.EINVALID, "The parameter %s of %s is given twice.", name, fn.Name)
		}
		values[name] = strings.TrimSpace(value)
	}
	var times [2]time.Time
	for i, name := range []string{"fromDateTime", "toDateTime"} {
		v, ok := values[name]
		if !ok {
			return callvault.TimeRange{}, callvault.Errorf(callvault.EINVALID, "%s needs the parameter %s, as in %s(fromDateTime=2024-05-01,toDateTime=2024-05-31).", fn.Name, name, fn.Name)
		}
		t, err := odata.ParseDateTimeParameter(v)
		if err != nil {
			return callvault.TimeRange{}, callvault.Errorf(callvault.EINVALID, "The parameter %s of %s is '%s', which is not a date (2024-05-01) or a date-time (2024-05-01T00:00:00Z).", name, fn.Name, clipText(v))
		}
		times[i] = t
	}
	from, to := times[0], times[1]
	if to.Before(from) {
		return callvault.TimeRange{}, callvault.Errorf(callvault.EINVALID, "toDateTime (%s) is before fromDateTime (%s).", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	if spec.maxDays > 0 && to.Sub(from) > time.Duration(spec.maxDays)*24*time.Hour {
		return callvault.TimeRange{}, callvault.Errorf(callvault.EINVALID, "The date range of %s may be at most %d days; %s to %s is longer.", fn.Name, spec.maxDays, from.Format("2006-01-02"), to.Format("2006-01-02"))
	}
	var r callvault.TimeRange
	r.AtLeast(from, true)
	r.AtMost(to, spec.toInclusive)
	return r, nil
}

func clipText(s string) string { return odata.Clip(s) }
