package synth

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Client platforms, in the order of PlatformWeights.
const (
	platWindows = iota
	platMacOS
	platWeb
	platIOS
	platAndroid
	platIPPhone
	platRoom
	platHub
	nPlat
)

var platformName = [nPlat]string{"windows", "macOS", "web", "iOS", "android", "ipPhone", "roomSystem", "surfaceHub"}

// Network connection types, in the order of NetworkWeights. netService is
// a datacenter network of a service endpoint.
const (
	netWired = iota
	netWifi
	netMobile
	netTunnel
	nNet
	netService = nNet
)

var connectionName = [nNet + 1]string{"wired", "wifi", "mobile", "tunnel", "wired"}

// poorFactor is how much likelier a stream over each connection type is to
// be poor, relative to the others; only the ratios matter.
var poorFactor = [nNet]float64{0.5, 1.2, 1.8, 1.5}

// allowedNets says which connection types a platform can use.
func allowedNets(platform int) [nNet]bool {
	switch platform {
	case platIOS, platAndroid:
		return [nNet]bool{netWifi: true, netMobile: true}
	case platIPPhone, platRoom:
		return [nNet]bool{netWired: true}
	case platHub:
		return [nNet]bool{netWired: true, netWifi: true}
	}
	return [nNet]bool{netWired: true, netWifi: true, netTunnel: true}
}

// gen holds what stays fixed across one generation run: the tenant, its
// directory and the Mix turned into tables.
type gen struct {
	mix         Mix
	seed        uint64
	tenant      string
	domain      string
	dir         []person
	externals   [3]struct{ id, domain string }
	acsResource string // the tenant's Azure Communication Services resource
	acsApp      string // the Entra app of its ACS client
	to          time.Time
	netGiven    [nPlat][nNet]float64 // P(connection type | platform)
	poorNorm    [nPlat]float64       // E[poorFactor | platform]
	perm        []int                // scratch for drawing distinct users
}

func newGen(tenant string, seed int64, m Mix, to time.Time, featured []person) *gen {
	g := &gen{mix: m, seed: uint64(seed) ^ fnv64(tenant), tenant: tenant, domain: "contoso.com", to: to}
	r := newRNG(g.seed, keyDirectory, 0)
	for i, d := range []string{"fabrikam.com", "northwindtraders.com", "adatum.com"} {
		g.externals[i].id, g.externals[i].domain = r.uuid(), d
	}
	g.acsResource, g.acsApp = r.uuid(), r.uuid()
	g.dir = newDirectory(r, tenant, g.domain, m.DirectorySize, featured)
	g.perm = make([]int, len(g.dir))
	nw := m.Networks.list()
	for p := range nPlat {
		allowed, sum := allowedNets(p), 0.0
		for c := range nNet {
			if allowed[c] {
				g.netGiven[p][c] = nw[c]
				sum += nw[c]
			}
		}
		if sum == 0 { // the Mix rules out every type this device can use
			for c := range nNet {
				g.netGiven[p][c] = nw[c]
				sum += nw[c]
			}
		}
		for c := range nNet {
			g.netGiven[p][c] /= sum
			g.poorNorm[p] += g.netGiven[p][c] * poorFactor[c]
		}
	}
	return g
}

// recordSpec says what a record must be; the zero value (with sessions -1)
// leaves everything to the Mix.
type recordSpec struct {
	index     uint64    // selects the record's random stream
	start     time.Time // the earliest the call may start
	id        string    // "" for a random id
	sessions  int       // exact number of sessions, or -1
	shape     int       // shapeAny, shapeP2P or shapeGroup
	people    []int     // directory users who must take part, organizer first
	callee    kind      // with forceCallee: the peer-to-peer callee's kind
	forceKind bool
	failure   string // "callSetup" or "midcall": the first participant session fails so
	net       int    // a connection type every client uses, or -1
	video     bool   // every camera that can be on is on
	share     bool   // someone shares their screen
	scheduled bool   // a group call is a scheduled meeting with a joinWebUrl
	hugeInt64 bool   // a stream reports averageBandwidthEstimate 2^53+1
}

const (
	shapeAny = iota
	shapeP2P
	shapeGroup
)

func anySpec(index uint64, start time.Time) recordSpec {
	return recordSpec{index: index, start: start, sessions: -1, net: -1}
}

// record is the plan of one call record: who, when and what, down to the
// segments. Metrics are drawn while it is written.
type record struct {
	r         rng
	id        string
	version   int64
	group     bool
	start     time.Time
	end       time.Time
	modified  time.Time
	joinURL   string
	organizer *person
	people    []*person // participants_v2, organizer first
	sessions  []*session
	hugeInt64 bool
}

type session struct {
	id         string
	start, end time.Time
	caller     *endpoint
	callee     *endpoint
	video      [2]bool // a main-video stream in each direction
	share      int     // direction of the applicationsharing-video stream, or -1
	isTest     bool
	failure    *failure
	feedback   *feedback
	onCallee   bool // the feedback is the callee's
	audioCodec string
	videoCodec string
	shareCodec string
	segments   []*segment
	who        *person // the participant whose session it is; nil for services and peer-to-peer calls
}

type segment struct {
	id         string
	start, end time.Time
	failure    *failure
	media      bool    // false when the call never set up
	poor       [2]bool // the audio stream in each direction is poor
	fix        *audioFix
}

// audioFix pins the first audio stream of a segment (the seed example).
type audioFix struct {
	streamID    string
	jitter      time.Duration
	nullDegrade bool
}

type failure struct{ stage, reason string }

type feedback struct {
	rating string
	text   string
	tokens []token // in a fixed order; nil for none
}

type token struct {
	name string
	on   bool
}

// endpoint is a participantEndpoint (client set) or a serviceEndpoint.
type endpoint struct {
	client  *client
	service *service
}

type client struct {
	who         *person
	platform    int
	family      string
	header      string
	version     string
	aadApp      string
	acsResource string
	machine     string
	cpu         string
	cores, mhz  int
	net         *network
	kit         deviceKit
}

type service struct {
	role, header, version string
	net                   *network
}

// plan draws one record.
func (g *gen) plan(spec recordSpec) *record {
	r := newRNG(g.seed, keyRecord, spec.index)
	rec := &record{r: r, id: spec.id, version: 1, hugeInt64: spec.hugeInt64}
	if rec.id == "" {
		rec.id = r.uuid()
	}
	group := r.chance(g.mix.GroupCallShare)
	switch {
	case spec.shape == shapeP2P || spec.sessions == 1:
		group = false
	case spec.shape == shapeGroup || spec.sessions == 0 || spec.sessions >= 2:
		group = true
	}
	rec.group = group
	if group {
		g.planGroup(rec, spec)
	} else {
		g.planP2P(rec, spec)
	}
	for _, s := range rec.sessions {
		g.pickCodecs(r, s)
		g.planSegments(r, s)
		g.planFeedback(r, s)
	}
	if r.chance(g.mix.UpdatedShare) {
		rec.version = 2 + int64(r.IntN(4)/3) // a quarter of updates happen twice
	}
	delay := ticks(r.between(180, 1200))
	if rec.version > 1 {
		delay = ticks(r.between(1800, 6*3600))
	}
	rec.modified = rec.end.Add(delay)
	if limit := later(rec.end, g.to); rec.modified.After(limit) {
		rec.modified = limit
	}
	return rec
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// window fits a call of length d starting at start into the run's end.
func (g *gen) window(start time.Time, d time.Duration) (time.Time, time.Time) {
	if start.Add(d).After(g.to) {
		d = max(g.to.Sub(start), 0)
		if d < 10*time.Second { // too close to the end: start a little earlier
			start, d = g.to.Add(-10*time.Second), 10*time.Second
		}
	}
	return start, start.Add(d)
}

func (g *gen) planP2P(rec *record, spec recordSpec) {
	r, m := rec.r, g.mix
	g.resetPerm()
	caller := g.drawMember(r, spec.people, 0)
	var callee *person
	switch {
	case len(spec.people) > 1:
		callee = g.drawMember(r, spec.people, 1)
	case spec.forceKind:
		callee = g.newPerson(r, spec.callee)
	default:
		switch x := r.Float64(); {
		case x < m.ExternalShare:
			callee = g.newPerson(r, external)
		case x < m.ExternalShare+m.ACSShare:
			callee = g.newPerson(r, acsUser)
		default:
			callee = g.drawMember(r, nil, 1)
		}
	}
	rec.organizer = caller
	test := spec.sessions < 0 && r.chance(m.TestCallShare)
	rec.people = []*person{caller}
	if !test {
		rec.people = append(rec.people, callee)
	}

	d := ticks(clamp(r.lognormal(m.PeerToPeerMedian.Seconds(), 1.0), 8, 4*3600))
	s := &session{id: r.uuid(), share: -1}
	stage := spec.failure
	if stage == "" {
		stage = g.drawFailure(r)
	}
	if stage == "callSetup" {
		d = ticks(r.between(3, 25))
	}
	rec.start, rec.end = g.window(spec.start, d)
	s.start, s.end = rec.start, rec.end
	s.caller = &endpoint{client: g.newClient(r, caller, spec.net)}
	if test {
		s.isTest = true
		s.callee = &endpoint{service: g.newService(r, "customBot")}
	} else {
		s.callee = &endpoint{client: g.newClient(r, callee, spec.net)}
	}
	if stage != "" {
		s.failure = g.newFailure(r, stage)
	}
	if stage != "callSetup" {
		for dir, ep := range []*endpoint{s.caller, s.callee} {
			s.video[dir] = g.camera(r, ep, spec.video)
		}
		if spec.share || r.chance(m.ScreenShareShare/3) {
			s.share = r.IntN(2)
			if !canShow(s.callee) || !canShow(s.caller) {
				s.share = -1
			}
		}
	}
	rec.sessions = []*session{s}
}

func (g *gen) planGroup(rec *record, spec recordSpec) {
	r, m := rec.r, g.mix
	exact := spec.sessions >= 0
	n, services := g.groupSize(r), -1
	if exact {
		n, services = spec.sessions, 0
		if spec.sessions >= 3 {
			n, services = spec.sessions-1, 1
		}
	}
	rec.people = g.drawPeople(r, max(n, 1), spec)
	rec.organizer = rec.people[0]
	if r.chance(m.ScheduledShare) || spec.scheduled {
		rec.joinURL = g.joinURL(r, rec.organizer)
	}
	d := ticks(clamp(r.lognormal(m.MeetingMedian.Seconds(), 0.6), 180, 6*3600))
	start, end := g.window(spec.start, d)
	rec.start, rec.end = start, end
	span := end.Sub(start).Seconds()

	mcu := &endpoint{service: g.newService(r, "skypeForBusinessAudioVideoMcu")}
	if services != 0 { // -1: drawn; 1: exactly the announcement service
		if services > 0 || r.chance(0.7) {
			s := &session{id: r.uuid(), share: -1, callee: mcu,
				caller: &endpoint{service: g.newService(r, "conferencingAnnouncementService")}}
			s.start, s.end = start, start.Add(ticks(math.Min(r.between(5, 40), span)))
			rec.sessions = append(rec.sessions, s)
		}
		if services < 0 && r.chance(0.3) {
			s := &session{id: r.uuid(), share: -1, callee: mcu, start: start, end: end,
				caller: &endpoint{service: g.newService(r, "mediaController")}}
			rec.sessions = append(rec.sessions, s)
		}
	}

	// Devices, cameras and the presenter, before anyone joins.
	eps := make([]*endpoint, n)
	cams := make([]bool, n)
	cameras := 0
	for i := range n {
		p := rec.people[i]
		if p.kind == phone {
			eps[i] = &endpoint{service: g.newService(r, "mediationServer")}
		} else {
			eps[i] = &endpoint{client: g.newClient(r, p, spec.net)}
		}
		if cams[i] = g.camera(r, eps[i], spec.video); cams[i] {
			cameras++
		}
	}
	presenter := -1
	if n > 0 && (spec.share || r.chance(m.ScreenShareShare)) {
		presenter = 0
		if !r.chance(0.6) {
			presenter = r.IntN(n)
		}
		if !canShow(eps[presenter]) {
			presenter = -1
		}
	}

	failed := false // spec.failure applies to the first participant other than the organizer
	for i := range n {
		join, leave := 0.0, span
		if i > 0 {
			if r.chance(0.65) {
				join = math.Min(r.ExpFloat64()*50, span*0.5)
			} else {
				join = r.between(0, span*0.8)
			}
			if r.chance(0.7) { // stays to the end, leaving within seconds of the others
				leave = span - math.Min(r.ExpFloat64()*15, (span-join)/2)
			} else {
				leave = r.between(join+math.Min(60, (span-join)/2), span)
			}
		}
		stage := ""
		if i > 0 && !failed && spec.failure != "" {
			stage, failed = spec.failure, true
		} else if spec.failure == "" {
			stage = g.drawFailure(r)
		}
		newSession := func(from, to float64) *session {
			s := &session{id: r.uuid(), caller: eps[i], callee: mcu, share: -1,
				start: start.Add(ticks(from)), end: start.Add(ticks(to)), who: rec.people[i]}
			s.video[0] = cams[i]
			s.video[1] = cameras-btoi(cams[i]) > 0 && canShow(eps[i])
			switch {
			case presenter == i:
				s.share = 0
			case presenter >= 0 && canShow(eps[i]):
				s.share = 1
			}
			rec.sessions = append(rec.sessions, s)
			return s
		}
		switch stage {
		case "callSetup":
			s := newSession(join, math.Min(join+r.between(3, 25), span))
			s.failure = g.newFailure(r, stage)
			s.video, s.share = [2]bool{}, -1
			if !exact && r.chance(0.9) { // the user tries again
				retry := s.end.Sub(start).Seconds() + r.between(2, 20)
				if retry < leave-5 {
					newSession(retry, leave)
				}
			}
		case "midcall":
			drop := r.between(join+(leave-join)*0.1, join+(leave-join)*0.9)
			s := newSession(join, drop)
			s.failure = g.newFailure(r, stage)
			if back := drop + r.between(10, 60); !exact && back < leave-5 && r.chance(0.7) {
				newSession(back, leave)
			}
		default:
			if !exact && r.chance(m.RejoinShare) && leave-join > 120 {
				gap := r.between(join+30, leave-60)
				newSession(join, gap)
				newSession(gap+r.between(5, 50), leave)
			} else {
				newSession(join, leave)
			}
		}
	}
	if len(rec.sessions) > 0 {
		// Sessions in start order; the record spans exactly its sessions.
		slices.SortStableFunc(rec.sessions, func(a, b *session) int { return a.start.Compare(b.start) })
		rec.start, rec.end = rec.sessions[0].start, rec.sessions[0].end
		for _, s := range rec.sessions {
			if s.end.After(rec.end) {
				rec.end = s.end
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// groupSize draws a shifted Pareto: mostly small meetings, a few huge.
func (g *gen) groupSize(r rng) int {
	u := 1 - r.Float64()
	x := g.mix.GroupSizeScale * (math.Pow(u, -1/g.mix.GroupSizeAlpha) - 1)
	return int(math.Min(3+math.Floor(x), float64(g.mix.MaxParticipants)))
}

// drawPeople returns n distinct participants, organizer (a member) first.
func (g *gen) drawPeople(r rng, n int, spec recordSpec) []*person {
	m := g.mix
	g.resetPerm()
	out := make([]*person, 0, n)
	taken := 0
	for i := 0; i < n; i++ {
		if i < len(spec.people) || i == 0 {
			out = append(out, g.drawMember(r, spec.people, taken))
			taken++
			continue
		}
		k := member
		switch x := r.Float64(); {
		case x < m.ExternalShare:
			k = external
		case x < m.ExternalShare+m.AnonymousShare:
			k = anonymous
		case x < m.ExternalShare+m.AnonymousShare+m.PSTNShare:
			k = phone
		case x < m.ExternalShare+m.AnonymousShare+m.PSTNShare+m.ACSShare:
			k = acsUser
		}
		if k == member && taken < len(g.dir) {
			out = append(out, g.drawMember(r, nil, taken))
			taken++
			continue
		}
		if k == member { // the whole directory is in: the rest are guests from outside
			k = external
		}
		out = append(out, g.newPerson(r, k))
	}
	return out
}

func (g *gen) resetPerm() {
	for i := range g.perm {
		g.perm[i] = i
	}
}

// drawMember takes the next distinct directory user into g.perm[slot]:
// forced[slot] when given, else a user drawn with a skew towards the
// first, busier, users (the square of a uniform).
func (g *gen) drawMember(r rng, forced []int, slot int) *person {
	var pos int
	if slot < len(forced) {
		pos = slices.Index(g.perm[slot:], forced[slot]) + slot
	} else {
		u := r.Float64()
		pos = slot + int(u*u*float64(len(g.perm)-slot))
	}
	g.perm[slot], g.perm[pos] = g.perm[pos], g.perm[slot]
	return &g.dir[g.perm[slot]]
}

// newPerson makes a participant from outside the directory.
func (g *gen) newPerson(r rng, k kind) *person {
	p := &person{kind: k}
	switch k {
	case external:
		ext := g.externals[r.IntN(len(g.externals))]
		p.name, _, p.ascii = drawName(r)
		p.id, p.tenant = r.uuid(), ext.id
	case anonymous:
		p.id, p.name, p.ascii = r.uuid(), pick(r, guestNames), "guest"
	case acsUser:
		p.name, _, p.ascii = drawName(r)
		p.id = "8:acs:" + g.acsResource + "_" + r.uuid()
	default: // phone
		p.kind, p.id, p.ascii = phone, phoneNumber(r), "phone"
	}
	return p
}

// camera says whether an endpoint sends video.
func (g *gen) camera(r rng, ep *endpoint, always bool) bool {
	c := ep.client
	if c == nil || c.platform == platIPPhone {
		return false
	}
	p := g.mix.VideoShare
	if c.platform == platRoom || c.platform == platHub {
		p = math.Min(1, 2*p)
	}
	return r.chance(p) || always
}

// canShow says whether an endpoint can show video or a shared screen.
func canShow(ep *endpoint) bool {
	return ep.client != nil && ep.client.platform != platIPPhone
}

func (g *gen) drawFailure(r rng) string {
	switch x := r.Float64(); {
	case x < g.mix.SetupFailureShare:
		return "callSetup"
	case x < g.mix.SetupFailureShare+g.mix.MidcallFailureShare:
		return "midcall"
	}
	return ""
}

var failureReasons = map[string][]string{
	"callSetup": {"Unexpected", "MediaConnectivityFailure", "Call setup timed out",
		"ICE connectivity checks failed", "Remote endpoint was not reachable"},
	"midcall": {"Unexpected", "MediaTimeout", "Network connection lost",
		"Client stopped responding", "Media relay connection dropped"},
}

func (g *gen) newFailure(r rng, stage string) *failure {
	return &failure{stage: stage, reason: pick(r, failureReasons[stage])}
}

// planSegments cuts a session into 1-3 contiguous segments and decides
// which audio streams are poor.
func (g *gen) planSegments(r rng, s *session) {
	n := 1
	setup := s.failure != nil && s.failure.stage == "callSetup"
	for !setup && n < 3 && r.chance(g.mix.ExtraSegmentShare) {
		n++
	}
	cuts := make([]float64, n+1)
	cuts[n] = 1
	for i := 1; i < n; i++ {
		cuts[i] = r.Float64()
	}
	slices.Sort(cuts[1:n])
	span := s.end.Sub(s.start).Seconds()
	for i := range n {
		seg := &segment{start: s.start.Add(ticks(cuts[i] * span)), end: s.start.Add(ticks(cuts[i+1] * span)), media: !setup}
		if i == n-1 {
			seg.end = s.end
			seg.failure = s.failure
		}
		seg.id = r.uuid()
		if seg.media {
			for dir := range 2 {
				if c := legClient(s, dir); c != nil {
					p := g.mix.PoorAudioStreamShare * poorFactor[c.net.conn] / g.poorNorm[c.platform]
					seg.poor[dir] = r.chance(p)
				}
			}
		}
		s.segments = append(s.segments, seg)
	}
}

// legClient is the client whose network decides a stream's quality: the
// sender if it is a client, else the receiver; nil between two services.
func legClient(s *session, dir int) *client {
	from, to := s.caller.client, s.callee.client
	if dir == 1 {
		from, to = to, from
	}
	return cmp.Or(from, to)
}

var (
	feedbackTokens = []string{"NoSound", "OtherNoSound", "Echo", "Noisy", "LowVolume", "Stopped", "DistortedSound", "Interruptions"}
	ratings        = []string{"bad", "poor", "fair", "good", "excellent"}
	ratingsGood    = []float64{0.02, 0.04, 0.12, 0.37, 0.45}
	ratingsBad     = []float64{0.20, 0.35, 0.25, 0.15, 0.05}
	complaints     = []string{"Kept cutting out", "Couldn't hear anyone for the first minute",
		"Echo on the other end", "Le son était haché", "声音断断续续", "Audio robótico", "Video froze constantly"}
	praise = []string{"Great call", "Crystal clear 👍", "Sehr gute Qualität"}
)

// planFeedback lets a participant rate the call, worse after poor audio.
func (g *gen) planFeedback(r rng, s *session) {
	if s.failure != nil && s.failure.stage == "callSetup" || !r.chance(g.mix.FeedbackShare) {
		return
	}
	onCallee := s.caller.client == nil || s.callee.client != nil && r.chance(0.5)
	if onCallee && s.callee.client == nil {
		return
	}
	poor := false
	for _, seg := range s.segments {
		poor = poor || seg.poor[0] || seg.poor[1]
	}
	w := ratingsGood
	if poor {
		w = ratingsBad
	}
	fb := &feedback{rating: ratings[r.weighted(w)]}
	if fb.rating == "bad" || fb.rating == "poor" || fb.rating == "fair" {
		fb.tokens = make([]token, len(feedbackTokens))
		for i, name := range feedbackTokens {
			fb.tokens[i] = token{name: name}
		}
		for range 1 + r.IntN(2) {
			fb.tokens[r.IntN(len(feedbackTokens))].on = true
		}
		if r.chance(0.3) {
			fb.text = pick(r, complaints)
		}
	} else if r.chance(0.1) {
		fb.text = pick(r, praise)
	}
	s.feedback, s.onCallee = fb, onCallee
}

// joinURL builds a Teams meeting join link as Graph reports it.
func (g *gen) joinURL(r rng, organizer *person) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	thread := make([]byte, 48)
	for i := range thread {
		thread[i] = alnum[r.IntN(len(alnum))]
	}
	return "https://teams.microsoft.com/l/meetup-join/19%3ameeting_" + string(thread) +
		"%40thread.v2/0?context=%7b%22Tid%22%3a%22" + g.tenant + "%22%2c%22Oid%22%3a%22" + organizer.id + "%22%7d"
}
