package quality

import (
	"encoding/json"
	"strconv"
	"strings"
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
		Type      string `json:"@odata.type"`
		Name      string `json:"name"`
		UserAgent *struct {
			Type               string `json:"@odata.type"`
			HeaderValue        string `json:"headerValue"`
			ApplicationVersion string `json:"applicationVersion"`
			Platform           string `json:"platform"`
			ProductFamily      string `json:"productFamily"`
			Role               string `json:"role"`
		} `json:"userAgent"`
		AssociatedIdentity *wireIdentity `json:"associatedIdentity"`
		Identity           *struct {
			User *wireIdentity `json:"user"`
		} `json:"identity"`
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
func Record(r *callvault.Record) *callvault.RecordQuality {
	q := &callvault.RecordQuality{}
	var rec wireRecord
	members(r.Body, func(key string, v []byte) {
		switch key {
		case "type":
			_ = json.Unmarshal(v, &rec.Type)
		case "startDateTime":
			_ = json.Unmarshal(v, &rec.StartDateTime)
		}
	})
	if rec.StartDateTime.IsZero() {
		rec.StartDateTime = r.StartDateTime
	}
	for i, ses := range r.Sessions {
		var start time.Time
		members(ses.Body, func(key string, v []byte) {
			if key == "startDateTime" {
				_ = json.Unmarshal(v, &start)
			}
		})
		for j, seg := range ses.Segments {
			wg, ok := segmentOf(seg.Body)
			if !ok {
				continue
			}
			at := firstTime(wg.StartDateTime, start, rec.StartDateTime)
			q.Streams = appendSegment(q.Streams, r.ID, rec.Type, i+1, j+1, at, wg)
		}
	}
	return q
}

// members calls fn with each member of the object b. Only the members
// classification reads are decoded, and of a media only its label,
// networks and streams: a segment's devices and most of its endpoints'
// fields are skipped by a scan, several times faster than decoding them.
func members(b []byte, fn func(key string, v []byte)) bool {
	o, ok := jsonx.NewObject(b)
	if !ok {
		return false
	}
	for m, ok := o.Next(); ok; m, ok = o.Next() {
		fn(string(m.Key), m.Value)
	}
	return true
}

// segmentOf reads what classification needs of a stored segment.
func segmentOf(b []byte) (*wireSegment, bool) {
	g := &wireSegment{}
	ok := members(b, func(key string, v []byte) {
		switch key {
		case "startDateTime":
			_ = json.Unmarshal(v, &g.StartDateTime)
		case "caller":
			g.Caller = &wireEndpoint{}
			_ = json.Unmarshal(v, g.Caller)
		case "callee":
			g.Callee = &wireEndpoint{}
			_ = json.Unmarshal(v, g.Callee)
		case "media":
			a, ok := jsonx.NewArray(v)
			for e, more := a.Next(); ok && more; e, more = a.Next() {
				var m wireMedia
				members(e, func(key string, v []byte) {
					switch key {
					case "label":
						_ = json.Unmarshal(v, &m.Label)
					case "callerNetwork":
						m.CallerNetwork = &wireNetwork{}
						_ = json.Unmarshal(v, m.CallerNetwork)
					case "calleeNetwork":
						m.CalleeNetwork = &wireNetwork{}
						_ = json.Unmarshal(v, m.CalleeNetwork)
					case "streams":
						_ = json.Unmarshal(v, &m.Streams)
					}
				})
				g.Media = append(g.Media, m)
			}
		}
	})
	return g, ok
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
