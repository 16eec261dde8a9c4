package callvault

import (
	"context"
	"time"
)

// Stream classes, as the Call Quality Dashboard (CQD) names them.
const (
	ClassGood         = "good"
	ClassPoor         = "poor"
	ClassUnclassified = "unclassified"
)

// Media types of a classified stream: CQD classifies audio, video and
// video-based screen sharing (VBSS) streams; the rest are "other".
const (
	MediaAudio = "audio"
	MediaVideo = "video"
	MediaVBSS  = "vbss"
	MediaOther = "other"
)

// PoorDue is the set of CQD's "Poor Due To" reasons of a stream: the tests
// of its classifier that it failed.
type PoorDue uint16

// The reasons, one bit each: audio's five tests, then the video and VBSS
// classifiers' steps.
const (
	DueDegradation    PoorDue = 1 << iota // audio degradation avg > 1.0
	DueRoundTrip                          // round trip > 500 ms
	DuePacketLoss                         // packet loss rate > 0.1
	DueJitter                             // jitter > 30 ms
	DueConcealedRatio                     // ratio of concealed samples avg > 0.07
	DueFrameLoss                          // video local frame loss percentage avg > 50 %
	DueFrameRate                          // video frame rate avg < 7 (VBSS: < 2)
	DuePostFECPLR                         // video post-FEC packet loss rate > 0.15
)

// QualityEndpoint is one end of a stream as the analytics slice on it: CQD's
// First or Second endpoint.
type QualityEndpoint struct {
	Kind       string // "client" or "server"
	Name       string // the endpoint's name (a participantEndpoint's machine name), which CQD's endpoint file keys
	Role       string // a server's serviceRole; "" for a client
	Platform   string // a client's clientPlatform
	Family     string // a client's productFamily
	UserAgent  string // the user agent's headerValue
	AppVersion string // the user agent's applicationVersion
	UserID     string // the endpoint's user (associatedIdentity, else identity.user)
	UserName   string
	Connection string // networkInfo.connectionType
	WifiBand   string
	Transport  string // networkInfo.networkTransportProtocol
	Subnet     string
	IP         string
}

// QualityStream is one media stream of a record, classified as CQD does,
// with the metrics and dimensions the analytics read: the columns a store
// keeps so that no query parses a body.
type QualityStream struct {
	RecordID               string
	SessionSeq, SegmentSeq int // 1-based positions of the stream's session and segment
	Seq                    int // 1-based position of the stream in its segment (media order, then streams)
	Start                  time.Time
	Media                  string // MediaAudio, MediaVideo, MediaVBSS or MediaOther
	Label                  string // the media's label, e.g. "main-audio"
	Direction              string // "firstToSecond" or "secondToFirst"
	FirstIsCaller          bool
	Class                  string // ClassGood, ClassPoor or ClassUnclassified
	PoorDue                PoorDue

	// The metrics in CQD's units; nil when the stream does not report them.
	JitterMs, RoundTripMs, PacketLoss, Degradation, Concealed *float64
	FrameLoss, FrameRate, PostFECPLR                          *float64

	CallType      string // the record's type: groupCall, peerToPeer, unknown
	PSTN          bool   // one end is a mediation server or gateway
	Conference    bool   // one end is an audio/video conferencing server (or the record is a groupCall)
	First, Second QualityEndpoint
}

// RecordQuality is what the classification of a record yields.
type RecordQuality struct {
	Streams []QualityStream
}

// QualityFunc classifies a stored record: package quality's Record.
type QualityFunc func(r *Record) *RecordQuality

// QualityStats counts what a store's FillQuality did.
type QualityStats struct {
	Records int64 // records classified
	Streams int64 // stream rows written
}

// Tenant files of CQD's format that a QualityStore keeps: one of each kind
// per tenant is active, as in CQD.
const (
	FileBuildings = "buildings"
	FileEndpoints = "endpoints"
)

// QualityStore keeps the classified streams of records. It is an optional
// capability of a Store: without it callvault serves no analytics and no web
// view, and migrate classifies nothing. Both stores of callvault have it.
//
// A store writes a record's streams in the transaction that stores the
// record, from Record.Quality: a record whose Quality is nil (classified by
// nobody) has no streams until FillQuality classifies it.
type QualityStore interface {
	// VisitQualityStreams calls fn with each of a tenant's streams whose
	// Start lies in start, in no particular order. The stream is the
	// store's, valid only during the call.
	VisitQualityStreams(ctx context.Context, tenant string, start TimeRange, fn func(*QualityStream) error) error
	// FillQuality classifies with fn every stored record that has no
	// classification, in short transactions, reporting progress after each
	// chunk. It can be run again after an interruption.
	FillQuality(ctx context.Context, fn QualityFunc, progress func(QualityStats)) (QualityStats, error)
	// PutTenantFile makes body the tenant's active file of a kind
	// (FileBuildings, FileEndpoints); GetTenantFile returns it, or nil when
	// the tenant has none.
	PutTenantFile(ctx context.Context, tenant, kind string, body []byte) error
	GetTenantFile(ctx context.Context, tenant, kind string) ([]byte, error)
}

// QualityColumns are the column names of a stored QualityStream, in the
// order of its Values and Targets: the one list both stores write and read.
var QualityColumns = []string{
	"record_id", "session_seq", "segment_seq", "seq", "start_time",
	"media", "label", "direction", "first_is_caller", "class", "poor_due",
	"jitter_ms", "round_trip_ms", "packet_loss", "degradation", "concealed",
	"frame_loss", "frame_rate", "post_fecplr",
	"call_type", "pstn", "conference",
	"first_kind", "first_name", "first_role", "first_platform", "first_family", "first_user_agent", "first_app_version",
	"first_user_id", "first_user_name", "first_connection", "first_wifi_band", "first_transport", "first_subnet", "first_ip",
	"second_kind", "second_name", "second_role", "second_platform", "second_family", "second_user_agent", "second_app_version",
	"second_user_id", "second_user_name", "second_connection", "second_wifi_band", "second_transport", "second_subnet", "second_ip",
}

// Values returns the column values of s in QualityColumns' order, with
// times as unix nanoseconds (zero: 0) and booleans as 0 or 1.
func (s *QualityStream) Values() []any {
	var start int64
	if !s.Start.IsZero() {
		start = s.Start.UnixNano()
	}
	v := []any{
		s.RecordID, int64(s.SessionSeq), int64(s.SegmentSeq), int64(s.Seq), start,
		s.Media, s.Label, s.Direction, boolInt(s.FirstIsCaller), s.Class, int64(s.PoorDue),
		s.JitterMs, s.RoundTripMs, s.PacketLoss, s.Degradation, s.Concealed,
		s.FrameLoss, s.FrameRate, s.PostFECPLR,
		s.CallType, boolInt(s.PSTN), boolInt(s.Conference),
	}
	return append(append(v, s.First.values()...), s.Second.values()...)
}

func (e *QualityEndpoint) values() []any {
	return []any{e.Kind, e.Name, e.Role, e.Platform, e.Family, e.UserAgent, e.AppVersion,
		e.UserID, e.UserName, e.Connection, e.WifiBand, e.Transport, e.Subnet, e.IP}
}

func (e *QualityEndpoint) targets() []any {
	return []any{&e.Kind, &e.Name, &e.Role, &e.Platform, &e.Family, &e.UserAgent, &e.AppVersion,
		&e.UserID, &e.UserName, &e.Connection, &e.WifiBand, &e.Transport, &e.Subnet, &e.IP}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// QualityScan holds the scan destinations of one stored stream; Stream
// turns what a row scanned into a QualityStream.
type QualityScan struct {
	s                             QualityStream
	start, sesSeq, segSeq, seq    int64
	firstIsCaller, pstn, conf, pd int64
}

// Targets returns the destinations of a row of QualityColumns.
func (q *QualityScan) Targets() []any {
	s := &q.s
	t := []any{
		&s.RecordID, &q.sesSeq, &q.segSeq, &q.seq, &q.start,
		&s.Media, &s.Label, &s.Direction, &q.firstIsCaller, &s.Class, &q.pd,
		&s.JitterMs, &s.RoundTripMs, &s.PacketLoss, &s.Degradation, &s.Concealed,
		&s.FrameLoss, &s.FrameRate, &s.PostFECPLR,
		&s.CallType, &q.pstn, &q.conf,
	}
	return append(append(t, s.First.targets()...), s.Second.targets()...)
}

// Stream returns the stream the last scan read.
func (q *QualityScan) Stream() *QualityStream {
	s := &q.s
	s.SessionSeq, s.SegmentSeq, s.Seq = int(q.sesSeq), int(q.segSeq), int(q.seq)
	s.Start = time.Time{}
	if q.start != 0 {
		s.Start = time.Unix(0, q.start).UTC()
	}
	s.FirstIsCaller, s.PSTN, s.Conference, s.PoorDue = q.firstIsCaller != 0, q.pstn != 0, q.conf != 0, PoorDue(q.pd)
	return s
}

// Time buckets a QualityAggregate may group by, besides columns.
const (
	BucketDay   = "day"   // the UTC day, as days since 1970-01-01
	BucketWeek  = "week"  // the ISO week, as weeks since Monday 1969-12-29
	BucketMonth = "month" // the UTC month, as YYYY-MM
)

// QualityAggregate asks a store to count a tenant's streams that start in
// Start, of one Media when set, whose columns equal Where's values,
// grouped by By: column names of QualityColumns or a Bucket.
type QualityAggregate struct {
	Start TimeRange
	Media string
	By    []string
	Where map[string]string
	// Stale lets a store with a daily rollup answer from it as it stands,
	// without first computing again the days imports have changed since
	// (a weekday of a million sessions takes seconds): those days count as
	// they were when last computed. The web view asks so once it has
	// waited long enough for the computation; the analytics API never does.
	Stale bool
}

// QualityGroup is the counts of one group of a QualityAggregate: its
// streams by class, the sums and counts of the metrics jitter_ms,
// round_trip_ms, packet_loss, degradation, concealed and frame_rate, and
// its audio call legs (segments) by CQD's call class.
type QualityGroup struct {
	Keys                              []string // each By value as text
	Streams, Good, Poor, Unclassified int64
	Sums                              [6]float64
	Counts                            [6]int64
	Calls, GoodCalls, PoorCalls       int64
}

// Add adds o's counts to g's (not its keys): the counts of two groups of
// the same keys, from other days or other values, add up exactly.
func (g *QualityGroup) Add(o *QualityGroup) {
	g.Streams += o.Streams
	g.Good += o.Good
	g.Poor += o.Poor
	g.Unclassified += o.Unclassified
	for i := range g.Sums {
		g.Sums[i] += o.Sums[i]
		g.Counts[i] += o.Counts[i]
	}
	g.Calls += o.Calls
	g.GoodCalls += o.GoodCalls
	g.PoorCalls += o.PoorCalls
}

// QualityAggregator counts streams in the database, without handing each
// row out. It is an optional capability of a QualityStore; without it the
// analytics count the rows VisitQualityStreams hands them, slower. Both
// stores of callvault have it.
//
// The groups it returns may be shared with other callers (the stores keep
// answers, and copying a month's groups by subnet, tens of thousands,
// cost a seventh of a cold overview): a caller reads them and does not
// change them.
type QualityAggregator interface {
	AggregateQuality(ctx context.Context, tenant string, q QualityAggregate) ([]QualityGroup, error)
}

// QualityCallVisitor is a QualityStore that hands out a period's streams
// call by call, the call that started latest first, so that the web view's
// list of calls reads only the latest calls of a long period. Without it
// the list reads every stream of the period (some 14 s for 28 days of a
// million sessions on PostgreSQL). Both stores of callvault have it.
type QualityCallVisitor interface {
	// VisitQualityStreamsByCall calls fn with the tenant's streams that
	// start in start, as VisitQualityStreams does, but all the streams of
	// a call together and the calls in the order of their start, latest
	// first (the latest id first among calls that started together). A
	// call that started up to MaxCallDuration before the period is
	// included when it has streams in it. An error of fn ends the visit
	// and is returned.
	VisitQualityStreamsByCall(ctx context.Context, tenant string, start TimeRange, fn func(*QualityStream) error) error
}

// MaxCallDuration bounds how long before a period a call that has streams
// in it may have started, for QualityCallVisitor: a store finds the calls
// by their start.
const MaxCallDuration = 48 * time.Hour

// QualityRollupRefresher is a QualityAggregator that answers from a daily
// rollup of the streams, whose days an import marks dirty, and can compute
// the dirty days ahead of the queries that need them: serve does it every
// minute in the background and migrate at its end, so that the first page
// after an import does not. Without it nothing is computed ahead; the
// store's queries do whatever they need. Both stores of callvault have it.
type QualityRollupRefresher interface {
	// RefreshQualityRollup computes again every dirty day of every tenant
	// and returns how many days it computed.
	RefreshQualityRollup(ctx context.Context) (days int, err error)
}
