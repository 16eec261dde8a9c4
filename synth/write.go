package synth

import (
	"math"
	"time"
)

// writer writes one planned record, drawing the per-segment metrics from
// the record's own random stream as it goes.
type writer struct {
	g           *gen
	r           rng
	e           *enc
	rec         *record
	st          *Stats
	hugePending bool // the record still owes its 2^53+1 bandwidth estimate
}

func (g *gen) write(e *enc, rec *record, st *Stats) {
	w := &writer{g: g, r: rec.r, e: e, rec: rec, st: st, hugePending: rec.hugeInt64}
	w.record()
}

var directionName = [2]string{"callerToCallee", "calleeToCaller"}

func (w *writer) record() {
	e, rec := w.e, w.rec
	e.open("")
	e.str("id", rec.id)
	e.int("version", rec.version)
	if rec.group {
		e.str("type", "groupCall")
	} else {
		e.str("type", "peerToPeer")
	}
	var video, share bool
	for _, s := range rec.sessions {
		video = video || s.video[0] || s.video[1]
		share = share || s.share >= 0
	}
	w.modalities(video, share)
	e.time("lastModifiedDateTime", rec.modified)
	e.time("startDateTime", rec.start)
	e.time("endDateTime", rec.end)
	e.optStr("joinWebUrl", rec.joinURL)

	e.open("organizer_v2")
	e.str("id", rec.organizer.id)
	w.identitySet(rec.organizer)
	e.close()
	e.openArr("participants_v2")
	for _, p := range rec.people {
		e.open("")
		e.str("id", p.id)
		w.identitySet(p)
		e.close()
	}
	e.closeArr()

	e.openArr("sessions")
	for _, s := range rec.sessions {
		w.session(s)
	}
	e.closeArr()
	e.close()
	w.st.Records++
}

func (w *writer) modalities(video, share bool) {
	e := w.e
	e.openArr("modalities")
	e.str("", "audio")
	if video {
		e.str("", "video")
	}
	if share {
		e.str("", "screenSharing")
	}
	e.closeArr()
}

// identitySet writes a graph.communicationsIdentitySet. Identities carry
// tenantId as a dynamic property of the open graph.identity, as Graph's
// examples do.
func (w *writer) identitySet(p *person) {
	e := w.e
	e.open("identity")
	switch p.kind {
	case member, external:
		e.open("user")
	case anonymous:
		e.open("guest")
	case acsUser:
		e.open("azureCommunicationServicesUser")
	default:
		e.open("phone")
	}
	e.str("id", p.id)
	e.optStr("displayName", p.name)
	e.optStr("tenantId", p.tenant)
	e.close()
	e.close()
}

func (w *writer) session(s *session) {
	e := w.e
	e.open("")
	e.str("id", s.id)
	w.modalities(s.video[0] || s.video[1], s.share >= 0)
	e.time("startDateTime", s.start)
	e.time("endDateTime", s.end)
	e.boolean("isTest", s.isTest)
	callerFeedback, calleeFeedback := s.feedback, (*feedback)(nil)
	if s.onCallee {
		callerFeedback, calleeFeedback = nil, s.feedback
	}
	w.endpoint("caller", s.caller, callerFeedback)
	w.endpoint("callee", s.callee, calleeFeedback)
	w.failure(s.failure)
	e.openArr("segments")
	for _, seg := range s.segments {
		w.segment(s, seg)
	}
	e.closeArr()
	e.close()
	w.st.Sessions++
}

func (w *writer) segment(s *session, seg *segment) {
	e := w.e
	e.open("")
	e.str("id", seg.id)
	e.time("startDateTime", seg.start)
	e.time("endDateTime", seg.end)
	w.endpoint("caller", s.caller, nil)
	w.endpoint("callee", s.callee, nil)
	w.failure(seg.failure)
	e.openArr("media")
	if seg.media {
		w.media(s, seg, "main-audio")
		if s.video[0] || s.video[1] {
			w.media(s, seg, "main-video")
		}
		if s.share >= 0 {
			w.media(s, seg, "applicationsharing-video")
		}
	}
	e.closeArr()
	e.close()
	w.st.Segments++
}

func (w *writer) failure(f *failure) {
	if f == nil {
		return
	}
	e := w.e
	e.open("failureInfo")
	e.str("stage", f.stage)
	e.optStr("reason", f.reason)
	e.close()
}

// endpoint writes a participantEndpoint or a serviceEndpoint, always with
// its @odata.type (the declared type is the base endpoint), and its
// abstract userAgent likewise.
func (w *writer) endpoint(k string, ep *endpoint, fb *feedback) {
	e := w.e
	e.open(k)
	c := ep.client
	if c == nil {
		e.odataType("serviceEndpoint")
		e.open("userAgent")
		e.odataType("serviceUserAgent")
		e.str("headerValue", ep.service.header)
		e.str("applicationVersion", ep.service.version)
		e.str("role", ep.service.role)
		e.close()
		e.close()
		return
	}
	e.odataType("participantEndpoint")
	e.optStr("name", c.machine)
	if c.cpu != "" {
		e.str("cpuName", c.cpu)
		e.int("cpuCoresCount", int64(c.cores))
		e.int("cpuProcessorSpeedInMhz", int64(c.mhz))
	}
	e.open("userAgent")
	e.odataType("clientUserAgent")
	e.str("headerValue", c.header)
	e.str("applicationVersion", c.version)
	e.str("platform", platformName[c.platform])
	e.str("productFamily", c.family)
	e.optStr("azureADAppId", c.aadApp)
	e.optStr("communicationServiceId", c.acsResource)
	e.close()
	w.associatedIdentity(c.who)
	if fb != nil {
		e.open("feedback")
		e.str("rating", fb.rating)
		e.optStr("text", fb.text)
		if fb.tokens != nil {
			e.open("tokens") // feedbackTokenSet is open: each token is a dynamic Boolean
			for _, t := range fb.tokens {
				e.boolean(t.name, t.on)
			}
			e.close()
		}
		e.close()
	}
	e.close()
}

// associatedIdentity writes the graph.identity of a participant. A member
// is a microsoft.graph.callRecords.userIdentity, the declared type that
// has userPrincipalName, so it says so; tenantId is dynamic (both identity
// types are open).
func (w *writer) associatedIdentity(p *person) {
	e := w.e
	e.open("associatedIdentity")
	if p.kind == member {
		e.odataType("userIdentity")
	}
	e.str("id", p.id)
	e.optStr("displayName", p.name)
	e.optStr("tenantId", p.tenant)
	if p.kind == member {
		e.str("userPrincipalName", p.upn)
	}
	e.close()
}

func (ep *endpoint) network() *network {
	if ep.client != nil {
		return ep.client.net
	}
	return ep.service.net
}

func (w *writer) media(s *session, seg *segment, label string) {
	e := w.e
	e.open("")
	e.str("label", label)
	poor := seg.poor[0] || seg.poor[1]
	w.writeNetwork("callerNetwork", s.caller.network(), poor)
	w.writeNetwork("calleeNetwork", s.callee.network(), poor)
	if label == "main-audio" { // device telemetry is about audio devices
		if s.caller.client != nil {
			w.device("callerDevice", s.caller.client)
		}
		if s.callee.client != nil {
			w.device("calleeDevice", s.callee.client)
		}
	}
	e.openArr("streams")
	switch label {
	case "main-audio":
		w.audioStream(s, seg, 0)
		w.audioStream(s, seg, 1)
	case "main-video":
		for dir := range 2 {
			if s.video[dir] {
				w.videoStream(s, seg, dir, false)
			}
		}
	default:
		w.videoStream(s, seg, s.share, true)
	}
	e.closeArr()
	e.close()
}

var deviceRatios = []string{
	"captureNotFunctioningEventRatio", "cpuInsufficentEventRatio", "deviceClippingEventRatio",
	"deviceGlitchEventRatio", "lowSpeechLevelEventRatio", "lowSpeechToNoiseEventRatio",
	"renderMuteEventRatio", "renderNotFunctioningEventRatio", "renderZeroVolumeEventRatio",
}

func (w *writer) device(k string, c *client) {
	e, r := w.e, w.r
	e.open(k)
	e.optStr("captureDeviceName", c.kit.capture)
	e.optStr("captureDeviceDriver", c.kit.captureDriver)
	e.optStr("renderDeviceName", c.kit.render)
	e.optStr("renderDeviceDriver", c.kit.renderDriver)
	for _, name := range deviceRatios {
		v := 0.0
		if r.chance(0.12) {
			v = r.between(0, 0.05)
		}
		e.single(name, round(v, 4))
	}
	e.single("micGlitchRate", round(clamp(r.lognormal(4, 1), 0, 200), 1))
	e.single("speakerGlitchRate", round(clamp(r.lognormal(3, 1), 0, 200), 1))
	e.single("initialSignalLevelRootMeanSquare", round(r.between(20, 600), 1))
	howls := 0
	if r.chance(0.01) {
		howls = r.intBetween(1, 3)
	}
	e.int("howlingEventCount", int64(howls))
	e.int("receivedSignalLevel", int64(r.intBetween(-35, -10)))
	e.int("receivedNoiseLevel", int64(r.intBetween(-90, -60)))
	e.int("sentSignalLevel", int64(r.intBetween(-35, -10)))
	e.int("sentNoiseLevel", int64(r.intBetween(-90, -55)))
	e.close()
}

// netProfile holds the medians of a connection type's stream metrics.
type netProfile struct {
	jitterMs, rttMs, loss, bandwidth float64
}

var profiles = [nNet + 1]netProfile{
	netWired:   {2.5, 30, 0.0005, 60e6},
	netWifi:    {6, 50, 0.003, 25e6},
	netMobile:  {12, 110, 0.006, 8e6},
	netTunnel:  {8, 85, 0.003, 12e6},
	netService: {1, 5, 0.0001, 500e6},
}

// The Call Quality Dashboard's audio metrics, and which of them breaks
// first on a poor stream over each connection type.
const (
	mJitter = iota
	mRTT
	mLoss
	mConcealed
	mDegradation
)

var failWeights = [nNet + 1][]float64{
	netWired:   {1, 0.5, 1, 2, 2},
	netWifi:    {3, 1, 3, 2, 1},
	netMobile:  {2, 3, 3, 1, 1},
	netTunnel:  {2, 3, 1, 1, 1},
	netService: {1, 1, 1, 1, 1},
}

// Values above 2^53 that broken telemetry reports; JSON readers that use
// float64 lose their last digits.
var hugeInt64s = []int64{1<<53 + 1, math.MaxInt64}

func legConn(s *session, dir int) int {
	if c := legClient(s, dir); c != nil {
		return c.net.conn
	}
	return netService
}

func ms(v float64) time.Duration { return time.Duration(math.Round(v)) * time.Millisecond }

// audioStream writes one audio stream. A good stream stays below every CQD
// threshold; a poor one breaks one or two of them.
func (w *writer) audioStream(s *session, seg *segment, dir int) {
	e, r := w.e, w.r
	conn := legConn(s, dir)
	prof := profiles[conn]
	dur := seg.end.Sub(seg.start)
	id := streamID(r)
	jitter := math.Round(clamp(r.lognormal(prof.jitterMs, 0.6), 1, 29))
	rtt := math.Round(clamp(r.lognormal(prof.rttMs, 0.5), 2, 480))
	loss := 0.0
	if r.chance(0.65) {
		loss = clamp(r.lognormal(prof.loss, 1), 0, 0.08)
	}
	concealed := clamp(loss*1.5+r.lognormal(0.006, 0.7), 0, 0.06)
	nullDegradation := dur < 15*time.Second // too little speech for a MOS estimate
	fix := seg.fix
	if dir != 0 {
		fix = nil
	}
	if fix != nil {
		id, jitter, nullDegradation = fix.streamID, float64(fix.jitter/time.Millisecond), fix.nullDegrade
	}
	degradation := clamp(0.05+loss*5+concealed*4+jitter/200+r.between(0, 0.25), 0, 0.95)
	if seg.poor[dir] {
		for range 1 + btoi(r.chance(0.4)) {
			m := r.weighted(failWeights[conn])
			if m == mDegradation && nullDegradation || m == mJitter && fix != nil {
				m = mConcealed
			}
			switch m {
			case mJitter:
				jitter = math.Round(r.between(31, 120))
			case mRTT:
				rtt = math.Round(r.between(510, 1500))
			case mLoss:
				loss = r.between(0.105, 0.35)
				concealed = math.Max(concealed, loss*r.between(0.3, 0.9))
			case mConcealed:
				concealed = r.between(0.075, 0.35)
			default:
				degradation = r.between(1.05, 3.2)
			}
		}
		degradation = math.Max(degradation, math.Min(4, 0.05+loss*5+concealed*4+jitter/200))
	}
	fec := loss > 0.01 || r.chance(0.1)
	postFEC := loss
	if fec {
		postFEC = loss * r.between(0.05, 0.5)
	}
	bandwidth := int64(r.lognormal(prof.bandwidth, 0.6))
	if seg.poor[dir] {
		bandwidth /= 4
	}
	if w.hugePending && conn != netService {
		bandwidth, w.hugePending = hugeInt64s[0], false
	} else if r.chance(w.g.mix.HugeInt64Share) {
		bandwidth = pick(r, hugeInt64s)
	}

	e.open("")
	e.str("streamId", id)
	e.str("streamDirection", directionName[dir])
	e.time("startDateTime", seg.start)
	e.time("endDateTime", seg.end)
	e.str("audioCodec", s.audioCodec)
	e.duration("averageJitter", ms(jitter))
	e.duration("maxJitter", ms(jitter*r.between(1.5, 6)))
	netJitter := jitter * r.between(0.7, 1.1)
	e.duration("averageAudioNetworkJitter", ms(netJitter))
	e.duration("maxAudioNetworkJitter", ms(netJitter*r.between(1.5, 5)))
	e.duration("averageRoundTripTime", ms(rtt))
	e.duration("maxRoundTripTime", ms(rtt*r.between(1.1, 3)))
	e.single("averagePacketLossRate", round(loss, 4))
	e.single("maxPacketLossRate", round(math.Min(1, loss*r.between(2, 8)+r.between(0, 0.01)), 4))
	e.single("postForwardErrorCorrectionPacketLossRate", round(postFEC, 4))
	e.boolean("isAudioForwardErrorCorrectionUsed", fec)
	e.single("averageRatioOfConcealedSamples", round(concealed, 4))
	e.single("maxRatioOfConcealedSamples", round(math.Min(1, concealed*r.between(1.5, 5)), 4))
	if nullDegradation {
		e.null("averageAudioDegradation")
	} else {
		e.single("averageAudioDegradation", round(degradation, 2))
	}
	e.int("averageBandwidthEstimate", bandwidth)
	e.int("packetUtilization", int64(dur.Seconds()*50*r.between(0.85, 1)))
	e.boolean("wasMediaBypassed", false)
	e.close()
	w.st.Streams++
}

// videoStream writes a main-video or applicationsharing-video stream.
func (w *writer) videoStream(s *session, seg *segment, dir int, share bool) {
	e, r := w.e, w.r
	conn := legConn(s, dir)
	prof := profiles[conn]
	poor := seg.poor[dir]
	span := seg.end.Sub(seg.start)
	start, end := seg.start.Add(time.Duration(float64(span)*r.between(0.02, 0.2))).Truncate(100), seg.end
	fps, packetsPerSecond, codec := r.between(20, 30), r.between(150, 300), s.videoCodec
	if share {
		start = seg.start.Add(time.Duration(float64(span) * r.between(0.1, 0.5))).Truncate(100)
		end = start.Add(time.Duration(float64(seg.end.Sub(start)) * r.between(0.3, 1))).Truncate(100)
		fps, packetsPerSecond, codec = r.between(2, 12), r.between(20, 120), s.shareCodec
	}
	frameLoss, videoLoss, lowRate := r.between(0, 3), r.between(0, 0.01), r.between(0, 0.05)
	jitter := clamp(r.lognormal(prof.jitterMs, 0.6), 1, 40)
	rtt := clamp(r.lognormal(prof.rttMs, 0.5), 2, 600)
	loss := 0.0
	if r.chance(0.6) {
		loss = clamp(r.lognormal(prof.loss, 1), 0, 0.1)
	}
	if poor { // video suffers with the audio on the same leg
		fps, frameLoss, videoLoss, lowRate = fps/3, r.between(5, 25), r.between(0.03, 0.15), r.between(0.2, 0.7)
		jitter, rtt, loss = jitter*3, rtt*2, math.Max(loss, videoLoss)
	}
	e.open("")
	e.str("streamId", streamID(r))
	e.str("streamDirection", directionName[dir])
	e.time("startDateTime", start)
	e.time("endDateTime", end)
	e.str("videoCodec", codec)
	e.duration("averageJitter", ms(jitter))
	e.duration("maxJitter", ms(jitter*r.between(1.5, 6)))
	e.duration("averageRoundTripTime", ms(rtt))
	e.duration("maxRoundTripTime", ms(rtt*r.between(1.1, 3)))
	e.single("averagePacketLossRate", round(loss, 4))
	e.single("maxPacketLossRate", round(math.Min(1, loss*r.between(2, 8)+r.between(0, 0.01)), 4))
	e.single("averageVideoPacketLossRate", round(videoLoss, 4))
	e.single("averageVideoFrameRate", round(fps, 2))
	if dir == 1 {
		e.single("averageReceivedFrameRate", round(fps*r.between(0.9, 1), 2))
	}
	e.single("averageVideoFrameLossPercentage", round(frameLoss, 2))
	e.single("lowFrameRateRatio", round(lowRate, 4))
	lowCPU := 0.0
	if r.chance(0.1) {
		lowCPU = r.between(0, 0.1)
	}
	e.single("lowVideoProcessingCapabilityRatio", round(lowCPU, 4))
	if poor || r.chance(0.2) {
		freeze := r.between(0.1, 0.8)
		e.duration("averageFreezeDuration", ticks(freeze))
		e.duration("rmsFreezeDuration", ticks(freeze*r.between(1.1, 1.6)))
	}
	bandwidth := int64(r.lognormal(prof.bandwidth, 0.6))
	if r.chance(w.g.mix.HugeInt64Share) {
		bandwidth = pick(r, hugeInt64s)
	}
	e.int("averageBandwidthEstimate", bandwidth)
	e.int("packetUtilization", int64(end.Sub(start).Seconds()*packetsPerSecond))
	e.boolean("wasMediaBypassed", false)
	e.close()
	w.st.Streams++
}
