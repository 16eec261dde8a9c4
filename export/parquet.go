package export

import (
	"context"
	"io"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/analytics"
	"github.com/parquet-go/parquet-go"
)

// streamRow is a row of StreamsParquet: StreamColumns, typed. Metrics a
// stream does not report are null.
type streamRow struct {
	CallID                           string   `parquet:"CallId"`
	SessionSeq                       int32    `parquet:"SessionSeq"`
	SegmentSeq                       int32    `parquet:"SegmentSeq"`
	StreamSeq                        int32    `parquet:"StreamSeq"`
	StartTime                        int64    `parquet:"StartTime,timestamp(nanosecond)"`
	MediaType                        string   `parquet:"MediaType"`
	MediaLabel                       string   `parquet:"MediaLabel"`
	StreamDirection                  string   `parquet:"StreamDirection"`
	FirstIsCaller                    bool     `parquet:"FirstIsCaller"`
	Classification                   string   `parquet:"Classification"`
	PoorDueTo                        string   `parquet:"PoorDueTo"`
	JitterMs                         *float64 `parquet:"JitterMs,optional"`
	RoundTripMs                      *float64 `parquet:"RoundTripMs,optional"`
	PacketLossRate                   *float64 `parquet:"PacketLossRate,optional"`
	AudioDegradationAvg              *float64 `parquet:"AudioDegradationAvg,optional"`
	RatioConcealedSamplesAvg         *float64 `parquet:"RatioConcealedSamplesAvg,optional"`
	VideoLocalFrameLossPercentageAvg *float64 `parquet:"VideoLocalFrameLossPercentageAvg,optional"`
	VideoFrameRateAvg                *float64 `parquet:"VideoFrameRateAvg,optional"`
	VideoPostFecplr                  *float64 `parquet:"VideoPostFecplr,optional"`
	CallType                         string   `parquet:"CallType"`
	IsPstn                           bool     `parquet:"IsPstn"`
	IsConference                     bool     `parquet:"IsConference"`

	FirstEndpointKind             string `parquet:"FirstEndpointKind"`
	FirstEndpointName             string `parquet:"FirstEndpointName"`
	FirstServerRole               string `parquet:"FirstServerRole"`
	FirstPlatform                 string `parquet:"FirstPlatform"`
	FirstProductFamily            string `parquet:"FirstProductFamily"`
	FirstUserAgent                string `parquet:"FirstUserAgent"`
	FirstClientVersion            string `parquet:"FirstClientVersion"`
	FirstUserID                   string `parquet:"FirstUserId"`
	FirstUserName                 string `parquet:"FirstUserName"`
	FirstNetworkConnectionDetail  string `parquet:"FirstNetworkConnectionDetail"`
	FirstWifiBand                 string `parquet:"FirstWifiBand"`
	FirstTransport                string `parquet:"FirstTransport"`
	FirstSubnet                   string `parquet:"FirstSubnet"`
	FirstIPAddress                string `parquet:"FirstIpAddress"`
	FirstBuildingName             string `parquet:"FirstBuildingName"`
	SecondEndpointKind            string `parquet:"SecondEndpointKind"`
	SecondEndpointName            string `parquet:"SecondEndpointName"`
	SecondServerRole              string `parquet:"SecondServerRole"`
	SecondPlatform                string `parquet:"SecondPlatform"`
	SecondProductFamily           string `parquet:"SecondProductFamily"`
	SecondUserAgent               string `parquet:"SecondUserAgent"`
	SecondClientVersion           string `parquet:"SecondClientVersion"`
	SecondUserID                  string `parquet:"SecondUserId"`
	SecondUserName                string `parquet:"SecondUserName"`
	SecondNetworkConnectionDetail string `parquet:"SecondNetworkConnectionDetail"`
	SecondWifiBand                string `parquet:"SecondWifiBand"`
	SecondTransport               string `parquet:"SecondTransport"`
	SecondSubnet                  string `parquet:"SecondSubnet"`
	SecondIPAddress               string `parquet:"SecondIpAddress"`
	SecondBuildingName            string `parquet:"SecondBuildingName"`
}

// StreamsParquet writes what Streams writes as CSV as a Parquet file
// (parquet-go; Snappy-compressed column chunks, metrics as nullable
// doubles, StartTime as a UTC timestamp in nanoseconds, which Graph's seven
// decimals need), for DuckDB, pandas or Spark.
func StreamsParquet(ctx context.Context, store callvault.QualityStore, tenant string, from, to time.Time, files *analytics.Files, w io.Writer) (int, error) {
	rows, files, err := sortedStreams(ctx, store, tenant, from, to, files)
	if err != nil {
		return 0, err
	}
	pw := parquet.NewGenericWriter[streamRow](w, parquet.Compression(&parquet.Snappy))
	batch := make([]streamRow, 0, 1024)
	flush := func() error {
		_, err := pw.Write(batch)
		batch = batch[:0]
		return err
	}
	for i := range rows {
		s := &rows[i]
		f, sec := &s.First, &s.Second
		batch = append(batch, streamRow{
			CallID: s.RecordID, SessionSeq: int32(s.SessionSeq), SegmentSeq: int32(s.SegmentSeq), StreamSeq: int32(s.Seq),
			StartTime: s.Start.UnixNano(), MediaType: s.Media, MediaLabel: s.Label, StreamDirection: s.Direction, FirstIsCaller: s.FirstIsCaller,
			Classification: s.Class, PoorDueTo: joinReasons(s.PoorDue),
			JitterMs: s.JitterMs, RoundTripMs: s.RoundTripMs, PacketLossRate: s.PacketLoss, AudioDegradationAvg: s.Degradation,
			RatioConcealedSamplesAvg: s.Concealed, VideoLocalFrameLossPercentageAvg: s.FrameLoss, VideoFrameRateAvg: s.FrameRate,
			VideoPostFecplr: s.PostFECPLR, CallType: s.CallType, IsPstn: s.PSTN, IsConference: s.Conference,
			FirstEndpointKind: f.Kind, FirstEndpointName: f.Name, FirstServerRole: f.Role, FirstPlatform: f.Platform,
			FirstProductFamily: f.Family, FirstUserAgent: f.UserAgent, FirstClientVersion: f.AppVersion, FirstUserID: f.UserID,
			FirstUserName: f.UserName, FirstNetworkConnectionDetail: f.Connection, FirstWifiBand: f.WifiBand, FirstTransport: f.Transport,
			FirstSubnet: f.Subnet, FirstIPAddress: f.IP, FirstBuildingName: buildingName(files, f),
			SecondEndpointKind: sec.Kind, SecondEndpointName: sec.Name, SecondServerRole: sec.Role, SecondPlatform: sec.Platform,
			SecondProductFamily: sec.Family, SecondUserAgent: sec.UserAgent, SecondClientVersion: sec.AppVersion, SecondUserID: sec.UserID,
			SecondUserName: sec.UserName, SecondNetworkConnectionDetail: sec.Connection, SecondWifiBand: sec.WifiBand, SecondTransport: sec.Transport,
			SecondSubnet: sec.Subnet, SecondIPAddress: sec.IP, SecondBuildingName: buildingName(files, sec),
		})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return i, err
			}
		}
	}
	if err := flush(); err != nil {
		return len(rows), err
	}
	return len(rows), pw.Close()
}
