package synth

import (
	"fmt"
	"time"
)

// Mix holds the tunable distributions of the generator. Start from
// DefaultMix and change the fields you care about: a zero Mix in a Config
// means DefaultMix, but a partly filled Mix is taken as given (a zero share
// is a real zero).
//
// Shares are probabilities in [0, 1]; weights are relative (only their
// ratios matter) and must not all be zero.
type Mix struct {
	// GroupCallShare is the share of records that are group calls
	// (meetings, type groupCall); the rest are peer-to-peer calls.
	GroupCallShare float64
	// GroupSizeScale and GroupSizeAlpha shape the heavy-tailed number of
	// participants of a group call: 3 + floor(scale·(U^(-1/alpha) − 1)),
	// a shifted Pareto, capped at MaxParticipants. With scale 3 and alpha
	// 1.5 the median is 4, about 1.5% of meetings exceed 50 participants,
	// 0.3% exceed 150, one in 6,000 exceeds 1,000 and one in 190,000 reaches
	// the default cap of 10,000 (a town hall).
	GroupSizeScale float64
	GroupSizeAlpha float64
	// MaxParticipants caps the participants of one group call (Teams
	// meetings take up to 10,000 interactive attendees).
	MaxParticipants int
	// ScheduledShare is the share of group calls that are scheduled
	// meetings and so carry a joinWebUrl; the rest are ad hoc group calls.
	ScheduledShare float64
	// RejoinShare is the chance that a meeting participant drops out and
	// rejoins, which gives them a second session.
	RejoinShare float64
	// DirectorySize is the number of users in the tenant's directory that
	// calls are drawn from; a few of them call far more than the rest.
	DirectorySize int
	// PeerToPeerMedian and MeetingMedian are the median durations of
	// peer-to-peer calls and of group calls (log-normal around them).
	PeerToPeerMedian time.Duration
	MeetingMedian    time.Duration

	// ExternalShare, AnonymousShare, PSTNShare and ACSShare are the shares
	// of group-call participants who are federated users of another tenant,
	// anonymous guests, phone dial-ins (through a mediationServer service
	// endpoint), and Azure Communication Services users (productFamily
	// azureCommunicationServices). The rest are users of the tenant. In
	// peer-to-peer calls the callee is external or an ACS user with the
	// same shares, never anonymous or a phone.
	ExternalShare  float64
	AnonymousShare float64
	PSTNShare      float64
	ACSShare       float64
	// DirectRoutingShare is the share of phone dial-ins carried by the
	// tenant's own SBCs (direct routing: a directRoutingLogRow); the rest
	// come through Microsoft's audio conferencing (a pstnCallLogRow). See
	// Config.PSTN.
	DirectRoutingShare float64

	// Platforms weighs the client platforms of Teams and Skype clients.
	Platforms PlatformWeights
	// SkypeForBusinessShare is the share of non-ACS clients on desktop and
	// phone platforms that are Skype for Business (a fifth of them on
	// Windows report productFamily lync); the rest are Teams.
	SkypeForBusinessShare float64

	// Networks weighs the connection types of client networks. The weights
	// apply among the types a device can use: phones use wifi or mobile,
	// room systems and IP phones are wired, Surface Hubs wired or wifi, and
	// computers wired, wifi or tunnel (VPN).
	Networks NetworkWeights
	// TCPShare is the share of client networks whose media falls back to
	// TCP; networks behind a tunnel (VPN) do so four times as often.
	TCPShare float64

	// VideoShare is the chance that a participant sends video (room
	// systems: twice as likely, audio-only devices never).
	VideoShare float64
	// ScreenShareShare is the share of group calls in which someone shares
	// their screen; peer-to-peer calls share a third as often. The presenter's
	// session sends an applicationsharing-video stream (callerToCallee) and
	// every viewer receives one (calleeToCaller).
	ScreenShareShare float64

	// PoorAudioStreamShare is the target share of audio streams on client
	// legs (segments where the caller or callee is a participantEndpoint)
	// that the Call Quality Dashboard classifies as poor: averageAudioDegradation
	// > 1.0, averageRoundTripTime > 500 ms, averagePacketLossRate > 0.1,
	// averageJitter > 30 ms or averageRatioOfConcealedSamples > 0.07. Wifi,
	// mobile and tunnel networks are poor more often than wired ones, in
	// proportions that keep the share on every platform at this target (up
	// to about 0.6 with the default Networks). Legs between two service
	// endpoints, such as a phone dial-in's, are always good.
	PoorAudioStreamShare float64
	// HugeInt64Share is the chance that a stream reports a garbage
	// averageBandwidthEstimate above 2^53, as broken drivers do; it exercises
	// clients that read Int64 as a float64.
	HugeInt64Share float64

	// FeedbackShare is the share of participant sessions in which the user
	// rated the call (rate-my-call); ratings are worse after poor streams.
	FeedbackShare float64
	// SetupFailureShare and MidcallFailureShare are the chances that a
	// session fails at call setup (a short session with no media) or drops
	// mid-call; meeting participants usually retry or rejoin.
	SetupFailureShare   float64
	MidcallFailureShare float64
	// ExtraSegmentShare is the chance of each further segment of a session
	// (a reconnect or a media renegotiation), up to three segments.
	ExtraSegmentShare float64
	// TestCallShare is the share of peer-to-peer records that are test calls
	// (isTest true) to a bot.
	TestCallShare float64
	// UpdatedShare is the share of records whose version is above 1 because
	// late client data updated them.
	UpdatedShare float64

	// UTCOffset is the tenant's offset from UTC. Start times follow a weekly
	// profile in that local time: busy weekday business hours with a lunch
	// dip, quiet nights and weekends.
	UTCOffset time.Duration
}

// PlatformWeights weighs client platforms (clientPlatform members).
type PlatformWeights struct {
	Windows, MacOS, Web, IOS, Android, IPPhone, RoomSystem, SurfaceHub float64
}

// NetworkWeights weighs network connection types (networkConnectionType
// members).
type NetworkWeights struct {
	Wired, Wifi, Mobile, Tunnel float64
}

// DefaultMix returns the distributions the generator uses unless told
// otherwise: a mid-sized enterprise on Teams with a hybrid workforce.
func DefaultMix() Mix {
	return Mix{
		GroupCallShare:   0.45,
		GroupSizeScale:   3,
		GroupSizeAlpha:   1.5,
		MaxParticipants:  10000,
		ScheduledShare:   0.75,
		RejoinShare:      0.08,
		DirectorySize:    400,
		PeerToPeerMedian: 4 * time.Minute,
		MeetingMedian:    32 * time.Minute,

		ExternalShare:  0.08,
		AnonymousShare: 0.03,
		PSTNShare:      0.04,
		ACSShare:       0.02,

		DirectRoutingShare: 0.3,

		Platforms: PlatformWeights{
			Windows: 0.50, MacOS: 0.14, Web: 0.08, IOS: 0.12, Android: 0.08,
			IPPhone: 0.02, RoomSystem: 0.05, SurfaceHub: 0.01,
		},
		SkypeForBusinessShare: 0.03,

		Networks: NetworkWeights{Wired: 0.30, Wifi: 0.50, Mobile: 0.10, Tunnel: 0.10},
		TCPShare: 0.04,

		VideoShare:       0.35,
		ScreenShareShare: 0.40,

		PoorAudioStreamShare: 0.04,
		HugeInt64Share:       0.0005,

		FeedbackShare:       0.04,
		SetupFailureShare:   0.01,
		MidcallFailureShare: 0.008,
		ExtraSegmentShare:   0.15,
		TestCallShare:       0.003,
		UpdatedShare:        0.10,
	}
}

func (m Mix) validate() error {
	shares := []struct {
		name string
		v    float64
	}{
		{"GroupCallShare", m.GroupCallShare}, {"ScheduledShare", m.ScheduledShare},
		{"RejoinShare", m.RejoinShare}, {"ExternalShare", m.ExternalShare},
		{"AnonymousShare", m.AnonymousShare}, {"PSTNShare", m.PSTNShare},
		{"ACSShare", m.ACSShare}, {"SkypeForBusinessShare", m.SkypeForBusinessShare},
		{"TCPShare", m.TCPShare}, {"VideoShare", m.VideoShare},
		{"ScreenShareShare", m.ScreenShareShare}, {"PoorAudioStreamShare", m.PoorAudioStreamShare},
		{"HugeInt64Share", m.HugeInt64Share}, {"FeedbackShare", m.FeedbackShare},
		{"SetupFailureShare", m.SetupFailureShare}, {"MidcallFailureShare", m.MidcallFailureShare},
		{"ExtraSegmentShare", m.ExtraSegmentShare}, {"TestCallShare", m.TestCallShare},
		{"UpdatedShare", m.UpdatedShare}, {"DirectRoutingShare", m.DirectRoutingShare},
	}
	for _, s := range shares {
		if !(s.v >= 0 && s.v <= 1) { // also rejects NaN
			return fmt.Errorf("synth: Mix.%s is %v, want a share in [0, 1]", s.name, s.v)
		}
	}
	if k := m.ExternalShare + m.AnonymousShare + m.PSTNShare + m.ACSShare; k > 1 {
		return fmt.Errorf("synth: Mix participant shares add up to %v, more than 1", k)
	}
	if !(m.GroupSizeScale > 0) || !(m.GroupSizeAlpha > 0) {
		return fmt.Errorf("synth: Mix.GroupSizeScale and GroupSizeAlpha must be positive")
	}
	if m.MaxParticipants < 3 {
		return fmt.Errorf("synth: Mix.MaxParticipants is %d, want 3 or more", m.MaxParticipants)
	}
	if m.DirectorySize < 2 {
		return fmt.Errorf("synth: Mix.DirectorySize is %d, want 2 or more", m.DirectorySize)
	}
	if m.PeerToPeerMedian <= 0 || m.MeetingMedian <= 0 {
		return fmt.Errorf("synth: Mix.PeerToPeerMedian and MeetingMedian must be positive")
	}
	if m.UTCOffset <= -24*time.Hour || m.UTCOffset >= 24*time.Hour {
		return fmt.Errorf("synth: Mix.UTCOffset %v is not within a day", m.UTCOffset)
	}
	if err := checkWeights("Platforms", m.Platforms.list()); err != nil {
		return err
	}
	return checkWeights("Networks", m.Networks.list())
}

func checkWeights(name string, w []float64) error {
	sum := 0.0
	for _, v := range w {
		if !(v >= 0) || v > 1e9 {
			return fmt.Errorf("synth: Mix.%s has weight %v, want a non-negative number", name, v)
		}
		sum += v
	}
	if sum == 0 {
		return fmt.Errorf("synth: Mix.%s weights are all zero", name)
	}
	return nil
}

// list returns the weights in the order of the platform constants.
func (p PlatformWeights) list() []float64 {
	return []float64{p.Windows, p.MacOS, p.Web, p.IOS, p.Android, p.IPPhone, p.RoomSystem, p.SurfaceHub}
}

// list returns the weights in the order of the connection constants.
func (n NetworkWeights) list() []float64 {
	return []float64{n.Wired, n.Wifi, n.Mobile, n.Tunnel}
}
