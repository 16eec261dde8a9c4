package quality

import (
	"slices"
	"testing"

	"github.com/callvault/callvault"
)

func f(v float64) *float64 { return &v }

// Hand-worked cases of CQD's audio classifier ("Stream Classification in
// Call Quality Dashboard", Audio Classifier): poor when one or more tests
// fail, each test strict, so a metric at its threshold is still good.
func TestAudioAsCQDDocumentsIt(t *testing.T) {
	good := Metrics{Degradation: f(0.2), RoundTripMs: f(40), PacketLoss: f(0.001), JitterMs: f(3), Concealed: f(0.01)}
	with := func(edit func(*Metrics)) Metrics { m := good; edit(&m); return m }
	tests := []struct {
		name  string
		m     Metrics
		class string
		due   callvault.PoorDue
	}{
		{"a stream well within every threshold is good", good, callvault.ClassGood, 0},
		{"degradation of exactly 1.0 is good", with(func(m *Metrics) { m.Degradation = f(1.0) }), callvault.ClassGood, 0},
		{"degradation of 1.01 is poor", with(func(m *Metrics) { m.Degradation = f(1.01) }), callvault.ClassPoor, callvault.DueDegradation},
		{"a round trip of exactly 500 ms is good", with(func(m *Metrics) { m.RoundTripMs = f(500) }), callvault.ClassGood, 0},
		{"a round trip of 501 ms is poor", with(func(m *Metrics) { m.RoundTripMs = f(501) }), callvault.ClassPoor, callvault.DueRoundTrip},
		{"packet loss of exactly 0.1 is good", with(func(m *Metrics) { m.PacketLoss = f(0.1) }), callvault.ClassGood, 0},
		{"packet loss of 0.1001 is poor", with(func(m *Metrics) { m.PacketLoss = f(0.1001) }), callvault.ClassPoor, callvault.DuePacketLoss},
		{"jitter of exactly 30 ms is good", with(func(m *Metrics) { m.JitterMs = f(30) }), callvault.ClassGood, 0},
		{"jitter of 31 ms is poor", with(func(m *Metrics) { m.JitterMs = f(31) }), callvault.ClassPoor, callvault.DueJitter},
		{"a concealed ratio of exactly 0.07 is good", with(func(m *Metrics) { m.Concealed = f(0.07) }), callvault.ClassGood, 0},
		{"a concealed ratio of 0.071 is poor", with(func(m *Metrics) { m.Concealed = f(0.071) }), callvault.ClassPoor, callvault.DueConcealedRatio},
		{"every failed test is a reason", Metrics{Degradation: f(2), RoundTripMs: f(900), PacketLoss: f(0.2), JitterMs: f(45), Concealed: f(0.3)},
			callvault.ClassPoor, callvault.DueDegradation | callvault.DueRoundTrip | callvault.DuePacketLoss | callvault.DueJitter | callvault.DueConcealedRatio},
		{"one failed test is enough among missing ones", Metrics{JitterMs: f(45)}, callvault.ClassPoor, callvault.DueJitter},
		{"one good metric with the others missing is good", Metrics{RoundTripMs: f(20)}, callvault.ClassGood, 0},
		{"no metric at all is unclassified", Metrics{}, callvault.ClassUnclassified, 0},
		{"video metrics do not classify audio", Metrics{FrameRate: f(1), FrameLossPct: f(90)}, callvault.ClassUnclassified, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class, due := Audio(tt.m)
			if class != tt.class || due != tt.due {
				t.Errorf("Audio = %s %v (%v), want %s %v", class, due, Reasons(due), tt.class, tt.due)
			}
		})
	}
}

// Hand-worked cases of CQD's video and VBSS classifiers: the first metric
// reported, in CQD's order, decides; none reported is unclassified.
func TestVideoAndVBSSInCQDsOrder(t *testing.T) {
	tests := []struct {
		name  string
		m     Metrics
		vbss  bool
		class string
		due   callvault.PoorDue
	}{
		{"step 1: frame loss of 50% is good", Metrics{FrameLossPct: f(50)}, false, callvault.ClassGood, 0},
		{"step 1: frame loss of 50.1% is poor", Metrics{FrameLossPct: f(50.1)}, false, callvault.ClassPoor, callvault.DueFrameLoss},
		{"step 1 decides even when a later step would fail", Metrics{FrameLossPct: f(10), FrameRate: f(1), PostFECPLR: f(0.9)}, false, callvault.ClassGood, 0},
		{"step 1 poor with a good frame rate is poor", Metrics{FrameLossPct: f(60), FrameRate: f(30)}, false, callvault.ClassPoor, callvault.DueFrameLoss},
		{"step 2: a frame rate of exactly 7 is good video", Metrics{FrameRate: f(7)}, false, callvault.ClassGood, 0},
		{"step 2: a frame rate of 6.9 is poor video", Metrics{FrameRate: f(6.9)}, false, callvault.ClassPoor, callvault.DueFrameRate},
		{"step 2: a frame rate of 6.9 is good VBSS", Metrics{FrameRate: f(6.9)}, true, callvault.ClassGood, 0},
		{"step 2: a frame rate of exactly 2 is good VBSS", Metrics{FrameRate: f(2)}, true, callvault.ClassGood, 0},
		{"step 2: a frame rate of 1.9 is poor VBSS", Metrics{FrameRate: f(1.9)}, true, callvault.ClassPoor, callvault.DueFrameRate},
		{"step 2 decides before step 3", Metrics{FrameRate: f(20), PostFECPLR: f(0.5)}, false, callvault.ClassGood, 0},
		{"step 3: post-FEC loss of exactly 0.15 is good", Metrics{PostFECPLR: f(0.15)}, false, callvault.ClassGood, 0},
		{"step 3: post-FEC loss of 0.151 is poor", Metrics{PostFECPLR: f(0.151)}, true, callvault.ClassPoor, callvault.DuePostFECPLR},
		{"no step's metric is unclassified", Metrics{JitterMs: f(100)}, false, callvault.ClassUnclassified, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class, due := Video(tt.m, tt.vbss)
			if class != tt.class || due != tt.due {
				t.Errorf("Video = %s %v, want %s %v", class, due, tt.class, tt.due)
			}
		})
	}
}

// CQD's "Audio Poor Call" counts a call (leg) poor when at least one of its
// audio streams is, unclassified when both could not be classified.
func TestCallClass(t *testing.T) {
	tests := []struct {
		name    string
		streams []string
		want    string
	}{
		{"both good", []string{"good", "good"}, "good"},
		{"one poor", []string{"good", "poor"}, "poor"},
		{"one poor, one unclassified", []string{"unclassified", "poor"}, "poor"},
		{"one good, one unclassified", []string{"unclassified", "good"}, "good"},
		{"both unclassified", []string{"unclassified", "unclassified"}, "unclassified"},
		{"no audio", nil, "unclassified"},
	}
	for _, tt := range tests {
		if got := CallClass(tt.streams); got != tt.want {
			t.Errorf("%s: CallClass = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// CQD's table "Example of First and Second classification": a server is
// First; of two servers the mediation server (UA type 1) is First over the
// AV MCU (type 2); same types put the caller First.
func TestFirstAndSecondAsCQDsExample(t *testing.T) {
	mcu := callvault.QualityEndpoint{Kind: "server", Role: "skypeForBusinessAudioVideoMcu"}
	med := callvault.QualityEndpoint{Kind: "server", Role: "mediationServer"}
	bot := callvault.QualityEndpoint{Kind: "server", Role: "customBot"}
	client := callvault.QualityEndpoint{Kind: "client", Platform: "windows"}
	tests := []struct {
		name           string
		caller, callee callvault.QualityEndpoint
		firstIsCaller  bool
	}{
		{"AVMCU calling a client: the AVMCU is First", mcu, client, true},
		{"a client calling the AVMCU: the AVMCU is First", client, mcu, false},
		{"AVMCU and mediation server: the mediation server is First", mcu, med, false},
		{"mediation server and AVMCU: the mediation server is First", med, mcu, true},
		{"two clients: the caller is First", client, client, true},
		{"two servers of one category: the caller is First", bot, bot, true},
		{"a client calling a bot: the bot is First", client, bot, false},
	}
	for _, tt := range tests {
		if got := FirstIsCaller(tt.caller, tt.callee); got != tt.firstIsCaller {
			t.Errorf("%s: FirstIsCaller = %v", tt.name, got)
		}
	}
}

func TestDurationMsIsExactAtCQDsBoundaries(t *testing.T) {
	for in, want := range map[string]float64{
		"PT0.03S": 30, "PT0.5S": 500, "PT0.501S": 501, "PT0.0305S": 30.5, "PT1M": 60000, "PT1H0.001S": 3600001, "P1DT0S": 86400000, "PT30S": 30000,
	} {
		got := durationMs(in)
		if got == nil || *got != want {
			t.Errorf("durationMs(%q) = %v, want %v", in, got, want)
		}
	}
	for _, bad := range []string{"", "0.5", "PTxS", "PT1X"} {
		if got := durationMs(bad); got != nil {
			t.Errorf("durationMs(%q) = %v, want nil", bad, *got)
		}
	}
}

func TestMediaType(t *testing.T) {
	for _, tt := range []struct{ label, audio, video, want string }{
		{"main-audio", "", "", "audio"},
		{"main-video", "", "", "video"},
		{"applicationsharing-video", "", "", "vbss"},
		{"data", "", "", "other"},
		{"", "opus", "", "audio"},
		{"", "", "h264", "video"},
	} {
		if got := MediaType(tt.label, tt.audio, tt.video); got != tt.want {
			t.Errorf("MediaType(%q) = %s, want %s", tt.label, got, tt.want)
		}
	}
}

// A record of Graph's wire shape: a PSTN call through a mediation server,
// whose streams get First/Second directions, classes and dimensions.
func TestRecordClassifiesEachStreamAndDirection(t *testing.T) {
	seg := `{"id":"g1","startDateTime":"2026-01-02T10:00:00Z",
	"caller":{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","headerValue":"Teams","applicationVersion":"1.2","platform":"windows","productFamily":"teams"},"associatedIdentity":{"id":"u1","displayName":"Ann"}},
	"callee":{"@odata.type":"#microsoft.graph.callRecords.serviceEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.serviceUserAgent","headerValue":"PSTNHub","role":"mediationServer"}},
	"media":[{"label":"main-audio","callerNetwork":{"connectionType":"wifi","wifiBand":"frequency50GHz","networkTransportProtocol":"udp","subnet":"10.0.1.0","ipAddress":"10.0.1.7"},"calleeNetwork":{"connectionType":"wired","subnet":"52.1.0.0"},
	"streams":[{"streamDirection":"callerToCallee","averageJitter":"PT0.031S","averageRoundTripTime":"PT0.1S","averagePacketLossRate":0.01},
	{"streamDirection":"calleeToCaller","averageJitter":"PT0.03S","averageRoundTripTime":"PT0.5S","averageRatioOfConcealedSamples":0.07,"averageAudioDegradation":1.0}]}]}`
	r := &callvault.Record{ID: "r1", Body: []byte(`{"id":"r1","type":"peerToPeer","startDateTime":"2026-01-02T09:59:00Z"}`),
		Sessions: []callvault.Session{{ID: "s1", Body: []byte(`{"id":"s1"}`), Segments: []callvault.Segment{{ID: "g1", Body: []byte(seg)}}}}}
	q := Record(r)
	if len(q.Streams) != 2 {
		t.Fatalf("%d streams, want 2", len(q.Streams))
	}
	up, down := q.Streams[0], q.Streams[1]
	if up.FirstIsCaller || up.Direction != "secondToFirst" || down.Direction != "firstToSecond" {
		t.Errorf("directions: firstIsCaller %v, %s, %s; want the mediation server First", up.FirstIsCaller, up.Direction, down.Direction)
	}
	if up.Class != "poor" || up.PoorDue != callvault.DueJitter || down.Class != "good" {
		t.Errorf("classes %s %v and %s, want poor (jitter) and good (every metric at its threshold)", up.Class, Reasons(up.PoorDue), down.Class)
	}
	if !up.PSTN || up.Conference || up.CallType != "peerToPeer" {
		t.Errorf("pstn %v conference %v type %s", up.PSTN, up.Conference, up.CallType)
	}
	if up.First.Kind != "server" || up.First.Role != "mediationServer" || up.Second.Platform != "windows" || up.Second.Subnet != "10.0.1.0" ||
		up.Second.WifiBand != "frequency50GHz" || up.Second.UserID != "u1" || up.First.Subnet != "52.1.0.0" {
		t.Errorf("endpoints: first %+v second %+v", up.First, up.Second)
	}
	if got := up.Start.Format("15:04"); got != "10:00" || up.SessionSeq != 1 || up.SegmentSeq != 1 || up.Seq != 1 || down.Seq != 2 {
		t.Errorf("start %s, positions %d/%d/%d", got, up.SessionSeq, up.SegmentSeq, up.Seq)
	}
	if !slices.Equal(Reasons(callvault.DueJitter|callvault.DueRoundTrip), []string{"RoundTrip", "Jitter"}) {
		t.Error("Reasons")
	}
}
