package quality

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/jsonx"
)

// The wire shapes this package reads of a stored record: only the fields
// classification and the dimensions need.
type (
	wireRecord struct {
		Type          string    `json:"type"`
		StartDateTime time.Time `json:"startDateTime"`
	}
	wireSegment struct {
		StartDateTime time.Time     `json:"startDateTime"`
		Caller        *wireEndpoint `json:"caller"`
		Callee        *wireEndpoint `json:"callee"`
		Media         []wireMedia   `json:"media"`
	}
	wireEndpoint struct {
		Type               string           `json:"@odata.type"`
		Name               string           `json:"name"`
		UserAgent          *wireUserAgent   `json:"userAgent"`
		AssociatedIdentity *wireIdentity    `json:"associatedIdentity"`
		Identity           *wireIdentitySet `json:"identity"`
	}
	wireUserAgent struct {
		Type               string `json:"@odata.type"`
		HeaderValue        string `json:"headerValue"`
		ApplicationVersion string `json:"applicationVersion"`
		Platform           string `json:"platform"`
		ProductFamily      string `json:"productFamily"`
		Role               string `json:"role"`
	}
	wireIdentitySet struct {
		User *wireIdentity `json:"user"`
	}
	wireIdentity struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
	}
	wireNetwork struct {
		ConnectionType           string `json:"connectionType"`
		WifiBand                 string `json:"wifiBand"`
		NetworkTransportProtocol string `json:"networkTransportProtocol"`
		Subnet                   string `json:"subnet"`
		IPAddress                string `json:"ipAddress"`
	}
	wireMedia struct {
		Label         string       `json:"label"`
		CallerNetwork *wireNetwork `json:"callerNetwork"`
		CalleeNetwork *wireNetwork `json:"calleeNetwork"`
		Streams       []wireStream `json:"streams"`
	}
	wireStream struct {
		StreamDirection                          string    `json:"streamDirection"`
		StartDateTime                            time.Time `json:"startDateTime"`
		AudioCodec                               string    `json:"audioCodec"`
		VideoCodec                               string    `json:"videoCodec"`
		AverageAudioDegradation                  *float64  `json:"averageAudioDegradation"`
		AverageRoundTripTime                     string    `json:"averageRoundTripTime"`
		AveragePacketLossRate                    *float64  `json:"averagePacketLossRate"`
		AverageJitter                            string    `json:"averageJitter"`
		AverageRatioOfConcealedSamples           *float64  `json:"averageRatioOfConcealedSamples"`
		AverageVideoFrameLossPercentage          *float64  `json:"averageVideoFrameLossPercentage"`
		AverageVideoFrameRate                    *float64  `json:"averageVideoFrameRate"`
		PostForwardErrorCorrectionPacketLossRate *float64  `json:"postForwardErrorCorrectionPacketLossRate"`
	}
)

// Record classifies every stream of every segment of r: the
// callvault.QualityFunc of this build. Bodies it cannot read count as
// having no streams (the importer stores only valid ones).
//
// It runs for every record an import stores, so it decodes by hand: a scan
// (package jsonx) walks the stored bodies, which callvault wrote itself,
// and only the members classification reads are turned into values; a
// segment's devices and most of its endpoints' fields are skipped. Decoding
// with encoding/json cost a fifth of an import's CPU.
func Record(r *callvault.Record) *callvault.RecordQuality {
	q := &callvault.RecordQuality{}
	var rec wireRecord
	for o, m := object(r.Body); m.Key != nil; m = o.next() {
		switch string(m.Key) {
		case "type":
			rec.Type = str(m.Value)
		case "startDateTime":
			rec.StartDateTime = timeOf(m.Value)
		}
	}
	if rec.StartDateTime.IsZero() {
		rec.StartDateTime = r.StartDateTime
	}
	// The streams are gathered in a scratch slice and copied once at their
	// size: appending to q.Streams grew it by doubling, copying the wide
	// streams each time (2 % of an import's CPU).
	sp := scratch.Get().(*[]callvault.QualityStream)
	streams := (*sp)[:0]
	var wg wireSegment
	for i, ses := range r.Sessions {
		var start time.Time
		for o, m := object(ses.Body); m.Key != nil; m = o.next() {
			if string(m.Key) == "startDateTime" {
				start = timeOf(m.Value)
				break
			}
		}
		for j, seg := range ses.Segments {
			if !segmentOf(seg.Body, &wg) {
				continue
			}
			at := firstTime(wg.StartDateTime, start, rec.StartDateTime)
			streams = appendSegment(streams, r.ID, rec.Type, i+1, j+1, at, &wg)
		}
	}
	if len(streams) > 0 {
		q.Streams = append(make([]callvault.QualityStream, 0, len(streams)), streams...)
	}
	if cap(streams) <= maxScratch {
		clear(streams) // not to keep the record's strings alive
		*sp = streams[:0]
		scratch.Put(sp)
	}
	return q
}

// scratch holds the slices Record gathers streams in; one larger than
// maxScratch streams (a large meeting's) is left to the collector.
var scratch = sync.Pool{New: func() any { return new([]callvault.QualityStream) }}

const maxScratch = 1024

// members walks an object's members: its keys as written (callvault's
// bodies have no escapes in keys) and raw values. A member with a nil Key
// is the end.
type members struct{ o jsonx.Object }

// object starts a walk over b and returns its first member; b that is not
// an object has none.
func object(b []byte) (members, jsonx.Member) {
	o, ok := jsonx.NewObject(b)
	w := members{o}
	if !ok {
		return w, jsonx.Member{}
	}
	return w, w.next()
}

func (w *members) next() jsonx.Member {
	m, ok := w.o.Next()
	if !ok || m.Key == nil {
		return jsonx.Member{}
	}
	return m
}

// segmentOf reads what classification needs of a stored segment into g,
// reusing its media; false when b is not an object.
func segmentOf(b []byte, g *wireSegment) bool {
	media := g.Media[:0]
	*g = wireSegment{}
	if _, ok := jsonx.NewObject(b); !ok {
		return false
	}
	for o, m := object(b); m.Key != nil; m = o.next() {
		switch string(m.Key) {
		case "startDateTime":
			g.StartDateTime = timeOf(m.Value)
		case "caller":
			g.Caller = endpointWire(m.Value)
		case "callee":
			g.Callee = endpointWire(m.Value)
		case "media":
			a, ok := jsonx.NewArray(m.Value)
			for e, more := a.Next(); ok && more; e, more = a.Next() {
				media = append(media, mediaWire(e))
			}
		}
	}
	g.Media = media
	return true
}

func endpointWire(v []byte) *wireEndpoint {
	if jsonx.IsNull(v) {
		return nil
	}
	e := &wireEndpoint{}
	for o, m := object(v); m.Key != nil; m = o.next() {
		switch string(m.Key) {
		case "@odata.type":
			e.Type = str(m.Value)
		case "name":
			e.Name = str(m.Value)
		case "userAgent":
			e.UserAgent = userAgentWire(m.Value)
		case "associatedIdentity":
			e.AssociatedIdentity = identityWire(m.Value)
		case "identity":
			if jsonx.IsNull(m.Value) {
				continue
			}
			e.Identity = &wireIdentitySet{}
			for o, m := object(m.Value); m.Key != nil; m = o.next() {
				if string(m.Key) == "user" {
					e.Identity.User = identityWire(m.Value)
				}
			}
		}
	}
	return e
}

func userAgentWire(v []byte) *wireUserAgent {
	if jsonx.IsNull(v) {
		return nil
	}
	ua := &wireUserAgent{}
	for o, m := object(v); m.Key != nil; m = o.next() {
		switch string(m.Key) {
		case "@odata.type":
			ua.Type = str(m.Value)
		case "headerValue":
			ua.HeaderValue = str(m.Value)
		case "applicationVersion":
			ua.ApplicationVersion = str(m.Value)
		case "platform":
			ua.Platform = str(m.Value)
		case "productFamily":
			ua.ProductFamily = str(m.Value)
		case "role":
			ua.Role = str(m.Value)
		}
	}
	return ua
}

func identityWire(v []byte) *wireIdentity {
	if jsonx.IsNull(v) {
		return nil
	}
	id := &wireIdentity{}
	for o, m := object(v); m.Key != nil; m = o.next() {
		switch string(m.Key) {
		case "id":
			id.ID = str(m.Value)
		case "displayName":
			id.DisplayName = str(m.Value)
		}
	}
	return id
}

func mediaWire(v []byte) wireMedia {
	var md wireMedia
	for o, m := object(v); m.Key != nil; m = o.next() {
		switch string(m.Key) {
		case "label":
			md.Label = str(m.Value)
		case "callerNetwork":
			md.CallerNetwork = networkWire(m.Value)
		case "calleeNetwork":
			md.CalleeNetwork = networkWire(m.Value)
		case "streams":
			a, ok := jsonx.NewArray(m.Value)
			for e, more := a.Next(); ok && more; e, more = a.Next() {
				md.Streams = append(md.Streams, streamWire(e))
			}
		}
	}
	return md
}

func networkWire(v []byte) *wireNetwork {
	if jsonx.IsNull(v) {
		return nil
	}
	n := &wireNetwork{}
	for o, m := object(v); m.Key != nil; m = o.next() {
		switch string(m.Key) {
		case "connectionType":
			n.ConnectionType = str(m.Value)
		case "wifiBand":
			n.WifiBand = str(m.Value)
		case "networkTransportProtocol":
			n.NetworkTransportProtocol = str(m.Value)
		case "subnet":
			n.Subnet = str(m.Value)
		case "ipAddress":
			n.IPAddress = str(m.Value)
		}
	}
	return n
}

func streamWire(v []byte) wireStream {
	var s wireStream
	for o, m := object(v); m.Key != nil; m = o.next() {
		switch string(m.Key) {
		case "streamDirection":
			s.StreamDirection = str(m.Value)
		case "startDateTime":
			s.StartDateTime = timeOf(m.Value)
		case "audioCodec":
			s.AudioCodec = str(m.Value)
		case "videoCodec":
			s.VideoCodec = str(m.Value)
		case "averageAudioDegradation":
			s.AverageAudioDegradation = num(m.Value)
		case "averageRoundTripTime":
			s.AverageRoundTripTime = str(m.Value)
		case "averagePacketLossRate":
			s.AveragePacketLossRate = num(m.Value)
		case "averageJitter":
			s.AverageJitter = str(m.Value)
		case "averageRatioOfConcealedSamples":
			s.AverageRatioOfConcealedSamples = num(m.Value)
		case "averageVideoFrameLossPercentage":
			s.AverageVideoFrameLossPercentage = num(m.Value)
		case "averageVideoFrameRate":
			s.AverageVideoFrameRate = num(m.Value)
		case "postForwardErrorCorrectionPacketLossRate":
			s.PostForwardErrorCorrectionPacketLossRate = num(m.Value)
		}
	}
	return s
}

// str reads a JSON string; anything else (null, a number) is "", as
// encoding/json leaves a string it cannot set.
func str(v []byte) string {
	if len(v) < 2 || v[0] != '"' {
		return ""
	}
	in := v[1 : len(v)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return string(in)
	}
	var s string
	_ = json.Unmarshal(v, &s)
	return s
}

// num reads a JSON number; nil for null or anything else.
func num(v []byte) *float64 {
	if len(v) == 0 || v[0] == '"' || v[0] == 'n' || v[0] == 't' || v[0] == 'f' {
		return nil
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return nil
	}
	return &f
}

// timeOf reads an RFC 3339 time string; zero when it is not one.
func timeOf(v []byte) time.Time {
	s := str(v)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func firstTime(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t.UTC()
		}
	}
	return time.Time{}
}

// appendSegment appends the classified streams of one segment.
func appendSegment(out []callvault.QualityStream, recordID, callType string, sesSeq, segSeq int, start time.Time, g *wireSegment) []callvault.QualityStream {
	caller, callee := endpointOf(g.Caller), endpointOf(g.Callee)
	firstIsCaller := FirstIsCaller(caller, callee)
	pstn := isPSTN(caller.Role) || isPSTN(callee.Role)
	conference := callType == "groupCall" || isMCU(caller.Role) || isMCU(callee.Role)
	seq := 0
	for _, m := range g.Media {
		callerEnd, calleeEnd := caller, callee
		network(&callerEnd, m.CallerNetwork)
		network(&calleeEnd, m.CalleeNetwork)
		first, second := callerEnd, calleeEnd
		if !firstIsCaller {
			first, second = calleeEnd, callerEnd
		}
		for _, st := range m.Streams {
			seq++
			media := MediaType(m.Label, st.AudioCodec, st.VideoCodec)
			metrics := Metrics{
				Degradation: st.AverageAudioDegradation,
				RoundTripMs: durationMs(st.AverageRoundTripTime),
				PacketLoss:  st.AveragePacketLossRate,
				JitterMs:    durationMs(st.AverageJitter),
				Concealed:   st.AverageRatioOfConcealedSamples,
			}
			if media == callvault.MediaVideo || media == callvault.MediaVBSS {
				metrics = Metrics{
					FrameLossPct: st.AverageVideoFrameLossPercentage,
					FrameRate:    st.AverageVideoFrameRate,
					PostFECPLR:   st.PostForwardErrorCorrectionPacketLossRate,
				}
			}
			class, due := Classify(media, metrics)
			dir := "firstToSecond"
			if (st.StreamDirection == "callerToCallee") != firstIsCaller {
				dir = "secondToFirst"
			}
			out = append(out, callvault.QualityStream{
				RecordID: recordID, SessionSeq: sesSeq, SegmentSeq: segSeq, Seq: seq,
				Start: firstTime(st.StartDateTime, start), Media: media, Label: m.Label,
				Direction: dir, FirstIsCaller: firstIsCaller, Class: class, PoorDue: due,
				JitterMs: metrics.JitterMs, RoundTripMs: metrics.RoundTripMs, PacketLoss: metrics.PacketLoss,
				Degradation: metrics.Degradation, Concealed: metrics.Concealed,
				FrameLoss: metrics.FrameLossPct, FrameRate: metrics.FrameRate, PostFECPLR: metrics.PostFECPLR,
				CallType: callType, PSTN: pstn, Conference: conference,
				First: first, Second: second,
			})
		}
	}
	return out
}

// MediaType tells a stream's media from its media's label ("main-audio",
// "main-video", "applicationsharing-video" for VBSS), else from its codec.
func MediaType(label, audioCodec, videoCodec string) string {
	l := strings.ToLower(label)
	switch {
	case strings.Contains(l, "applicationsharing") || strings.Contains(l, "vbss") || strings.Contains(l, "screen"):
		if strings.Contains(l, "video") || strings.Contains(l, "vbss") {
			return callvault.MediaVBSS
		}
		return callvault.MediaOther
	case strings.Contains(l, "audio"):
		return callvault.MediaAudio
	case strings.Contains(l, "video"):
		return callvault.MediaVideo
	case l == "" && audioCodec != "":
		return callvault.MediaAudio
	case l == "" && videoCodec != "":
		return callvault.MediaVideo
	}
	return callvault.MediaOther
}

// endpointOf reads the dimensions of an endpoint; a nil one is an unknown
// client.
func endpointOf(e *wireEndpoint) callvault.QualityEndpoint {
	out := callvault.QualityEndpoint{Kind: "client"}
	if e == nil {
		return out
	}
	out.Name = e.Name
	if strings.HasSuffix(e.Type, "serviceEndpoint") {
		out.Kind = "server"
	}
	if ua := e.UserAgent; ua != nil {
		if strings.HasSuffix(ua.Type, "serviceUserAgent") {
			out.Kind = "server"
		}
		out.UserAgent, out.AppVersion = ua.HeaderValue, ua.ApplicationVersion
		out.Platform, out.Family, out.Role = ua.Platform, ua.ProductFamily, ua.Role
	}
	if out.Kind == "server" {
		out.Role = cmpOr(out.Role, "unknown")
		out.Platform, out.Family = "", ""
	}
	id := e.AssociatedIdentity
	if id == nil && e.Identity != nil {
		id = e.Identity.User
	}
	if id != nil {
		out.UserID, out.UserName = id.ID, id.DisplayName
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func network(e *callvault.QualityEndpoint, n *wireNetwork) {
	if n == nil {
		return
	}
	e.Connection, e.WifiBand, e.Transport = n.ConnectionType, n.WifiBand, n.NetworkTransportProtocol
	e.Subnet, e.IP = n.Subnet, n.IPAddress
}

// FirstIsCaller applies CQD's First/Second rule to a stream's caller and
// callee: a server is First when one is involved, so a client is Second
// unless both are servers; two servers are ordered by their user agent
// category (a mediation server or gateway before a conferencing server,
// as in CQD's example of UA types 1 and 2); two endpoints of the same
// category put the caller First.
func FirstIsCaller(caller, callee callvault.QualityEndpoint) bool {
	a, b := category(caller), category(callee)
	if a != b {
		return a < b
	}
	return true
}

// category ranks an endpoint for FirstIsCaller: lower is First.
func category(e callvault.QualityEndpoint) int {
	switch {
	case e.Kind != "server":
		return 4
	case isPSTN(e.Role):
		return 1 // CQD's UA type 1, mediation server
	case isMCU(e.Role):
		return 2 // UA type 2, AV MCU
	}
	return 3
}

func isPSTN(role string) bool {
	switch role {
	case "mediationServer", "mediationServerCloudConnectorEdition", "skypeForBusinessMicrosoftTeamsGateway", "gateway":
		return true
	}
	return false
}

func isMCU(role string) bool {
	return role == "skypeForBusinessAudioVideoMcu"
}

// durationMs reads an Edm.Duration ([-]P[nD][T[nH][nM][n[.n]S]]) as
// milliseconds; nil when it is empty or not one.
func durationMs(s string) *float64 {
	if s == "" {
		return nil
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	rest, ok := strings.CutPrefix(s, "P")
	if !ok {
		return nil
	}
	var ms float64
	date, clock, _ := strings.Cut(rest, "T")
	if date != "" {
		d, err := strconv.ParseFloat(strings.TrimSuffix(date, "D"), 64)
		if err != nil || !strings.HasSuffix(date, "D") {
			return nil
		}
		ms += d * 86400e3
	}
	for _, u := range []struct {
		unit  byte
		scale float64
	}{{'H', 3600e3}, {'M', 60e3}, {'S', 1e3}} {
		i := strings.IndexByte(clock, u.unit)
		if i < 0 {
			continue
		}
		num := clock[:i]
		scale := u.scale
		if u.unit == 'S' {
			// Seconds to milliseconds by moving the decimal point, so that
			// "PT0.03S" is exactly 30 and CQD's boundaries hold.
			num, scale = shift3(num), 1
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return nil
		}
		ms += v * scale
		clock = clock[i+1:]
	}
	if clock != "" {
		return nil
	}
	if neg {
		ms = -ms
	}
	return &ms
}

// shift3 multiplies a decimal literal by 1000 in its text.
func shift3(s string) string {
	whole, frac, _ := strings.Cut(s, ".")
	for len(frac) < 3 {
		frac += "0"
	}
	return whole + frac[:3] + "." + frac[3:] + "0"
}
