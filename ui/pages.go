package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/analytics"
	"github.com/callvault/callvault/quality"
)

func trimFloat(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// period reads from and to (dates; to exclusive) of a page, by default the
// 28 days up to today.
func (s *Server) period(r *http.Request) (from, to time.Time, err error) {
	q, err := analytics.ParseQuery(url.Values{"from": {r.URL.Query().Get("from")}, "to": {r.URL.Query().Get("to")}}, s.now())
	return q.From, q.To, err
}

// horizon is where the figures and lists start under the retention
// (analytics.Horizon); the zero time without one.
func (s *Server) horizon() time.Time { return analytics.Horizon(s.now(), s.Retention) }

// kept gives qs the retention's horizon, so that what the Graph API has
// forgotten is not counted, and lets them answer from the daily rollup as
// it stands when stale (current).
func (s *Server) kept(stale bool, qs ...analytics.Query) []analytics.Query {
	h := s.horizon()
	for i := range qs {
		qs[i].NotBefore, qs[i].Stale = h, stale
	}
	return qs
}

// base is what every page's layout reads.
type base struct {
	Title, Page, Tenant string
	From, To, ToParam   string
}

func newBase(title, page string, ses *session, from, to time.Time) base {
	return base{Title: title, Page: page, Tenant: ses.tenant, From: from.Format(time.DateOnly),
		To: to.AddDate(0, 0, -1).Format(time.DateOnly), ToParam: to.Format(time.DateOnly)}
}

// worstDims are the slices the overview ranks.
var worstDims = []struct{ dim, title string }{
	{"second.subnet", "Subnet"}, {"second.building", "Building"}, {"second.userName", "User"}, {"second.platform", "Client platform"},
}

// MinWorstStreams is how many classified streams a slice needs to be ranked
// on the overview.
const MinWorstStreams = 5

type worst struct {
	Dim, Title string
	Rows       []analytics.Row
}

// OverviewQueries are the overview's queries over [from, to): the trend by
// day, then the worst slices of worstDims. The store answers them from its
// daily rollup.
func OverviewQueries(from, to time.Time) []analytics.Query {
	qs := []analytics.Query{{From: from, To: to, Media: callvault.MediaAudio, By: []string{"day"}}}
	for _, d := range worstDims {
		qs = append(qs, analytics.Query{From: from, To: to, Media: callvault.MediaAudio, By: []string{d.dim}, Top: 5, MinStreams: MinWorstStreams})
	}
	return qs
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request, ses *session) error {
	from, to, err := s.period(r)
	if err != nil {
		return err
	}
	files, err := analytics.LoadFiles(r.Context(), s.Quality, ses.tenant)
	if err != nil {
		return err
	}
	stale, late := s.current(r.Context())
	res, err := analytics.RunAll(r.Context(), s.Quality, ses.tenant, files, s.kept(stale, OverviewQueries(from, to)...))
	if err != nil {
		return err
	}
	days := res[0]
	data := struct {
		base
		Total      analytics.Row
		Days       []analytics.Row
		Chart      template.HTML
		Worst      []worst
		MinStreams int
		Late       bool
	}{base: newBase("Overview", "overview", ses, from, to), Total: days.Total, Days: days.Rows, Chart: trendChart(days.Rows), MinStreams: MinWorstStreams, Late: late}
	for i, d := range worstDims {
		data.Worst = append(data.Worst, worst{Dim: d.dim, Title: d.title, Rows: res[i+1].Rows})
	}
	s.render(w, http.StatusOK, "overview", data)
	return nil
}

// trendChart draws the days' volumes as bars and their poor % as a line,
// in SVG, with a title and description for screen readers.
func trendChart(days []analytics.Row) template.HTML {
	const width, height, pad = 800.0, 220.0, 28.0
	if len(days) == 0 {
		return `<p class="muted">No audio streams in this period.</p>`
	}
	var maxVol int64 = 1
	maxPct := 1.0
	for _, d := range days {
		maxVol = max(maxVol, d.Streams)
		if d.PoorPercent != nil {
			maxPct = max(maxPct, *d.PoorPercent)
		}
	}
	slot := (width - 2*pad) / float64(len(days))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-labelledby="chart-t chart-d"><title id="chart-t">Poor audio streams by day</title>`+
		`<desc id="chart-d">Bars are the streams of each day (at most %d); the line is the day's poor %% (at most %s %%).</desc>`, width, height, maxVol, trimFloat(maxPct, 2))
	var line []string
	for i, d := range days {
		x := pad + float64(i)*slot
		h := (height - 2*pad) * float64(d.Streams) / float64(maxVol)
		fmt.Fprintf(&b, `<rect class="vol" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d streams</title></rect>`,
			x+slot*0.1, height-pad-h, slot*0.8, h, template.HTMLEscapeString(d.Keys[0]), d.Streams)
		if d.PoorPercent != nil {
			y := height - pad - (height-2*pad)*(*d.PoorPercent)/maxPct
			line = append(line, fmt.Sprintf("%.1f,%.1f", x+slot/2, y))
		}
	}
	if len(line) > 0 {
		fmt.Fprintf(&b, `<polyline class="pct" points="%s"/>`, strings.Join(line, " "))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g">%s</text><text x="%g" y="%g" text-anchor="end">%s</text>`,
		pad, height-8, template.HTMLEscapeString(days[0].Keys[0]), width-pad, height-8, template.HTMLEscapeString(days[len(days)-1].Keys[0]))
	fmt.Fprintf(&b, `<text x="%g" y="14">%d streams</text><text x="%g" y="14" text-anchor="end">%s %% poor</text></svg>`, pad, maxVol, width-pad, trimFloat(maxPct, 2))
	return template.HTML(b.String())
}

func (s *Server) breakdown(w http.ResponseWriter, r *http.Request, ses *session) error {
	from, to, err := s.period(r)
	if err != nil {
		return err
	}
	dim := r.URL.Query().Get("by")
	if dim == "" {
		dim = "second.platform"
	}
	media := r.URL.Query().Get("media")
	if media == "" {
		media = callvault.MediaAudio
	}
	if media == "all" {
		media = ""
	}
	files, err := analytics.LoadFiles(r.Context(), s.Quality, ses.tenant)
	if err != nil {
		return err
	}
	stale, late := s.current(r.Context())
	res, err := analytics.Run(r.Context(), s.Quality, ses.tenant, files, s.kept(stale, analytics.Query{From: from, To: to, Media: media, By: []string{dim}})[0])
	if err != nil {
		return err
	}
	rows := res.Rows
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Streams > rows[j].Streams })
	csv := url.Values{"by": {dim}, "from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}, "format": {"csv"}}
	if media != "" {
		csv.Set("media", media)
	}
	s.render(w, http.StatusOK, "breakdown", struct {
		base
		Dim, Media, CSV string
		Dims, Medias    []string
		Rows            []analytics.Row
		Late            bool
	}{base: newBase("Breakdown", "breakdown", ses, from, to), Dim: dim, Media: cmpOr(media, "all"), Late: late,
		CSV: "/ui/export?" + csv.Encode(), Dims: analytics.Dimensions(), Medias: []string{"audio", "video", "vbss", "other", "all"}, Rows: rows})
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// callRow is a call of the calls page.
type callRow struct {
	ID, Start, Type, Users string
	PSTN                   bool
	Legs, Streams, Poor    int
	start                  time.Time
	users                  map[string]bool
	legs                   map[[2]int]bool
}

// MaxCalls is the most calls the calls page lists: the latest.
const MaxCalls = 500

// errEnough stops a visit that has read enough calls.
var errEnough = errors.New("ui: enough calls")

// matches reports whether the calls page shows c: poor when only poor
// calls are asked for, and with a user whose name holds user.
func (c *callRow) matches(poorOnly bool, user string) bool {
	if poorOnly && c.Poor == 0 {
		return false
	}
	if user == "" {
		return true
	}
	for u := range c.users {
		if strings.Contains(strings.ToLower(u), strings.ToLower(user)) {
			return true
		}
	}
	return false
}

func (s *Server) calls(w http.ResponseWriter, r *http.Request, ses *session) error {
	from, to, err := s.period(r)
	if err != nil {
		return err
	}
	poorOnly := r.URL.Query().Get("poor") == "1"
	user := strings.TrimSpace(r.URL.Query().Get("user"))
	byID := map[string]*callRow{}
	// Call by call, latest first, when the store can: the visit stops once
	// more than MaxCalls whole calls match, instead of reading the period.
	visit, byCall := s.Quality.VisitQualityStreams, false
	if v, ok := s.Quality.(callvault.QualityCallVisitor); ok {
		visit, byCall = v.VisitQualityStreamsByCall, true
	}
	var last *callRow
	matching := 0
	if h := s.horizon(); from.Before(h) { // past the retention, no call is listed
		from = h
	}
	if !from.Before(to) {
		from = to
	}
	err = visit(r.Context(), ses.tenant, callvault.TimeRange{From: from, FromInclusive: true, To: to}, func(q *callvault.QualityStream) error {
		c := byID[q.RecordID]
		if c == nil && byCall && last != nil {
			if last.matches(poorOnly, user) {
				matching++
			}
			if matching > MaxCalls {
				return errEnough
			}
		}
		if c == nil {
			c = &callRow{ID: q.RecordID, Type: q.CallType, start: q.Start, users: map[string]bool{}, legs: map[[2]int]bool{}}
			byID[q.RecordID] = c
		}
		if q.Start.Before(c.start) {
			c.start = q.Start
		}
		c.PSTN = c.PSTN || q.PSTN
		c.Streams++
		if q.Class == callvault.ClassPoor {
			c.Poor++
		}
		c.legs[[2]int{q.SessionSeq, q.SegmentSeq}] = true
		for _, n := range []string{q.First.UserName, q.Second.UserName} {
			if n != "" {
				c.users[n] = true
			}
		}
		last = c
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return err
	}
	var list []*callRow
	for _, c := range byID {
		if !c.matches(poorOnly, user) {
			continue
		}
		var users []string
		for u := range c.users {
			users = append(users, u)
		}
		sort.Strings(users)
		if len(users) > 4 {
			users = append(users[:4], fmt.Sprintf("and %d more", len(users)-4))
		}
		c.Users, c.Legs, c.Start = strings.Join(users, ", "), len(c.legs), c.start.Format("2006-01-02 15:04")
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].start.Equal(list[j].start) {
			return list[i].start.After(list[j].start)
		}
		return list[i].ID < list[j].ID
	})
	truncated := len(list) > MaxCalls
	list = list[:min(len(list), MaxCalls)]
	s.render(w, http.StatusOK, "calls", struct {
		base
		Calls     []*callRow
		Truncated bool
		PoorOnly  bool
		User      string
	}{newBase("Calls", "calls", ses, from, to), list, truncated, poorOnly, user})
	return nil
}

// The call page's views of a session, segment and stream.
type (
	sessionView struct {
		Seq            int
		Caller, Callee string
		Start, End     string
		Left, Width    string
		Poor           int
		GraphURL       string
		Segments       []*segmentView
	}
	segmentView struct {
		Seq           int
		Start, End    string
		First, Second string
		Streams       []streamView
	}
	streamView struct {
		callvault.QualityStream
		Why []string
	}
)

// wire shapes the call page reads of a session and its segments.
type wireParty struct {
	Type      string `json:"@odata.type"`
	Name      string `json:"name"`
	UserAgent *struct {
		HeaderValue string `json:"headerValue"`
		Role        string `json:"role"`
		Platform    string `json:"platform"`
	} `json:"userAgent"`
	AssociatedIdentity *struct {
		DisplayName string `json:"displayName"`
	} `json:"associatedIdentity"`
	Identity *struct {
		User *struct {
			DisplayName string `json:"displayName"`
		} `json:"user"`
		Phone *struct {
			ID string `json:"id"`
		} `json:"phone"`
	} `json:"identity"`
}

func (p *wireParty) String() string {
	switch {
	case p == nil:
		return "(unknown)"
	case p.AssociatedIdentity != nil && p.AssociatedIdentity.DisplayName != "":
		return p.AssociatedIdentity.DisplayName
	case p.Identity != nil && p.Identity.User != nil && p.Identity.User.DisplayName != "":
		return p.Identity.User.DisplayName
	case p.Identity != nil && p.Identity.Phone != nil && p.Identity.Phone.ID != "":
		return p.Identity.Phone.ID
	case p.UserAgent != nil && p.UserAgent.Role != "":
		return "server (" + p.UserAgent.Role + ")"
	case p.Name != "":
		return p.Name
	}
	return "(unknown)"
}

// wireParticipant is what the call page reads of a participants_v2 entry.
type wireParticipant struct {
	Identity *struct {
		User *struct {
			DisplayName string `json:"displayName"`
		} `json:"user"`
	} `json:"identity"`
}

type wireTimes struct {
	ID            string     `json:"id"`
	StartDateTime time.Time  `json:"startDateTime"`
	EndDateTime   time.Time  `json:"endDateTime"`
	Caller        *wireParty `json:"caller"`
	Callee        *wireParty `json:"callee"`
}

// MaxCallSessions bounds the sessions a call's page reads.
const MaxCallSessions = 2000

func (s *Server) call(w http.ResponseWriter, r *http.Request, ses *session) error {
	id := r.PathValue("id")
	h, err := s.Store.GetRecord(r.Context(), ses.tenant, id)
	if err != nil {
		return err
	}
	if s.Retention > 0 && h.EndDateTime.Before(s.now().Add(-s.Retention)) {
		// Past the retention the Graph API answers 404 for it, and so does
		// its page.
		return callvault.Errorf(callvault.ENOTFOUND, "Call record %q was not found.", id)
	}
	var rec struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(h.Body, &rec)
	start, end := h.StartDateTime, h.EndDateTime
	span := end.Sub(start)
	if span <= 0 {
		span = time.Second
	}
	pct := func(t time.Time) float64 { return min(100, max(0, float64(t.Sub(start))*100/float64(span))) }
	graphBase := "/ui/graph/communications/callRecords/" + url.PathEscape(id)

	var sessions []*sessionView
	bySeq := map[[2]int]*segmentView{}
	var after int64
	for len(sessions) < MaxCallSessions {
		page, err := s.Store.ListSessions(r.Context(), callvault.SessionQuery{Tenant: ses.tenant, RecordID: id, After: after, Limit: 60, Segments: true})
		if err != nil {
			return err
		}
		for _, row := range page.Sessions {
			var wt wireTimes
			_ = json.Unmarshal(row.Body, &wt)
			v := &sessionView{Seq: int(row.Seq), Caller: wt.Caller.String(), Callee: wt.Callee.String(),
				Start: clock(wt.StartDateTime), End: clock(wt.EndDateTime), GraphURL: graphBase + "/sessions/" + url.PathEscape(row.ID) + "?$expand=segments"}
			left := pct(wt.StartDateTime)
			v.Left, v.Width = trimFloat(left, 2), trimFloat(max(0.4, pct(wt.EndDateTime)-left), 2)
			for j, g := range row.Segments {
				var gt wireTimes
				_ = json.Unmarshal(g.Body, &gt)
				sv := &segmentView{Seq: j + 1, Start: clock(gt.StartDateTime), End: clock(gt.EndDateTime)}
				v.Segments = append(v.Segments, sv)
				bySeq[[2]int{int(row.Seq), j + 1}] = sv
			}
			sessions = append(sessions, v)
			after = row.Seq
		}
		if !page.More {
			break
		}
	}
	streams, poor := 0, 0
	err = s.Quality.VisitQualityStreams(r.Context(), ses.tenant, callvault.TimeRange{From: start.Add(-24 * time.Hour), FromInclusive: true, To: end.Add(24 * time.Hour), ToInclusive: true},
		func(q *callvault.QualityStream) error {
			if q.RecordID != id {
				return nil
			}
			sv := bySeq[[2]int{q.SessionSeq, q.SegmentSeq}]
			if sv == nil {
				return nil
			}
			streams++
			if sv.First == "" {
				sv.First, sv.Second = endpointLabel(&q.First), endpointLabel(&q.Second)
			}
			c := *q
			for _, p := range []**float64{&c.JitterMs, &c.RoundTripMs, &c.PacketLoss, &c.Degradation, &c.Concealed, &c.FrameLoss, &c.FrameRate, &c.PostFECPLR} {
				if *p != nil {
					v := **p
					*p = &v
				}
			}
			view := streamView{QualityStream: c, Why: why(&c)}
			sv.Streams = append(sv.Streams, view)
			if c.Class == callvault.ClassPoor {
				poor++
				sessions[q.SessionSeq-1].Poor++
			}
			return nil
		})
	if err != nil {
		return err
	}
	for _, sv := range bySeq {
		sort.Slice(sv.Streams, func(i, j int) bool { return sv.Streams[i].Seq < sv.Streams[j].Seq })
	}
	var participants []string
	for after := int64(0); len(participants) < MaxCallSessions; {
		page, err := s.Store.ListParticipants(r.Context(), callvault.ParticipantQuery{Tenant: ses.tenant, RecordID: id, After: after, Limit: 130})
		if err != nil {
			return err
		}
		for _, row := range page.Participants {
			var p wireParticipant
			if json.Unmarshal(row.Body, &p) == nil && p.Identity != nil && p.Identity.User != nil && p.Identity.User.DisplayName != "" {
				participants = append(participants, p.Identity.User.DisplayName)
			}
			after = row.Seq
		}
		if !page.More {
			break
		}
	}
	slices.Sort(participants)
	participants = slices.Compact(participants)
	s.render(w, http.StatusOK, "call", struct {
		base
		ID, Type, Start, End, Duration, GraphURL string
		Version                                  int64
		Sessions                                 []*sessionView
		Participants                             []string
		Streams, Poor                            int
	}{base: base{Title: "Call " + id, Page: "calls", Tenant: ses.tenant}, ID: id, Type: cmpOr(rec.Type, "call"),
		Start: start.UTC().Format("2006-01-02 15:04:05"), End: end.UTC().Format("2006-01-02 15:04:05"), Duration: end.Sub(start).Round(time.Second).String(),
		GraphURL: graphBase + "?$expand=sessions($expand=segments)", Version: h.Version, Sessions: sessions, Participants: participants, Streams: streams, Poor: poor})
	return nil
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.UTC().Format("15:04:05")
}

func endpointLabel(e *callvault.QualityEndpoint) string {
	var parts []string
	switch {
	case e.Kind == "server":
		parts = append(parts, "server "+e.Role)
	case e.UserName != "":
		parts = append(parts, e.UserName)
	default:
		parts = append(parts, "a client")
	}
	if e.Platform != "" {
		parts = append(parts, e.Platform)
	}
	if e.Connection != "" && e.Connection != "unknown" {
		parts = append(parts, e.Connection)
	}
	if e.Subnet != "" {
		parts = append(parts, e.Subnet)
	}
	return strings.Join(parts, ", ")
}

// why says which of CQD's thresholds made a stream poor, with its value.
func why(s *callvault.QualityStream) []string {
	var out []string
	v := func(p *float64) string {
		if p == nil {
			return "?"
		}
		return trimFloat(*p, 4)
	}
	for _, t := range []struct {
		due  callvault.PoorDue
		text string
	}{
		{callvault.DueDegradation, "degradation " + v(s.Degradation) + " > " + trimFloat(quality.AudioDegradationMax, 2)},
		{callvault.DueRoundTrip, "round trip " + v(s.RoundTripMs) + " ms > " + trimFloat(quality.AudioRoundTripMaxMs, 0) + " ms"},
		{callvault.DuePacketLoss, "packet loss " + v(s.PacketLoss) + " > " + trimFloat(quality.AudioPacketLossMax, 2)},
		{callvault.DueJitter, "jitter " + v(s.JitterMs) + " ms > " + trimFloat(quality.AudioJitterMaxMs, 0) + " ms"},
		{callvault.DueConcealedRatio, "concealed ratio " + v(s.Concealed) + " > " + trimFloat(quality.AudioConcealedMax, 2)},
		{callvault.DueFrameLoss, "frame loss " + v(s.FrameLoss) + " % > " + trimFloat(quality.VideoFrameLossMaxPct, 0) + " %"},
		{callvault.DueFrameRate, "frame rate " + v(s.FrameRate) + " < " + frameRateMin(s.Media)},
		{callvault.DuePostFECPLR, "post-FEC packet loss " + v(s.PostFECPLR) + " > " + trimFloat(quality.VideoPostFECPLRMax, 2)},
	} {
		if s.PoorDue&t.due != 0 {
			out = append(out, t.text)
		}
	}
	return out
}

func frameRateMin(media string) string {
	if media == callvault.MediaVBSS {
		return strconv.Itoa(quality.VBSSFrameRateMin)
	}
	return strconv.Itoa(quality.VideoFrameRateMin)
}

// export writes a breakdown's figures as CSV, as /analytics/v1/streams does.
func (s *Server) export(w http.ResponseWriter, r *http.Request, ses *session) error {
	q, err := analytics.ParseQuery(r.URL.Query(), s.now())
	if err != nil {
		return err
	}
	files, err := analytics.LoadFiles(r.Context(), s.Quality, ses.tenant)
	if err != nil {
		return err
	}
	res, err := analytics.Run(r.Context(), s.Quality, ses.tenant, files, s.kept(false, q)[0])
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="callvault-breakdown.csv"`)
	return analytics.WriteCSV(w, res)
}
