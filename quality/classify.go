// Package quality classifies media streams as Microsoft's Call Quality
// Dashboard (CQD) does: each stream of a record, per direction, good, poor
// or unclassified by CQD's audio, video and VBSS classifiers, with CQD's
// First and Second endpoints and its call-level "Audio Poor Call" rule.
//
// The rules and thresholds are CQD's, from "Stream Classification in Call
// Quality Dashboard" (MicrosoftDocs/OfficeDocs-SkypeForBusiness,
// Teams/stream-classification-in-call-quality-dashboard.md) and the First
// and Second rule of "Dimensions and measures available in Call Quality
// Dashboard"; see docs/quality.md for how Graph's fields map to CQD's.
package quality

import "github.com/callvault/callvault"

// CQD's thresholds. Every test is strict: a metric equal to its threshold
// passes.
const (
	AudioDegradationMax = 1.0  // Audio Degradation Avg > 1.0 is poor
	AudioRoundTripMaxMs = 500  // Round Trip > 500 ms
	AudioPacketLossMax  = 0.1  // Packet Loss Rate > 0.1
	AudioJitterMaxMs    = 30   // Jitter > 30 ms
	AudioConcealedMax   = 0.07 // Ratio Concealed Samples Avg > 0.07

	VideoFrameLossMaxPct = 50   // Video Local Frame Loss Percentage Avg > 50 %
	VideoFrameRateMin    = 7    // Video Frame Rate Avg < 7 (video)
	VBSSFrameRateMin     = 2    // Video Frame Rate Avg < 2 (VBSS)
	VideoPostFECPLRMax   = 0.15 // Video Post FECPLR > 0.15
)

// Metrics are a stream's classification inputs in CQD's units; nil when the
// stream does not report one.
type Metrics struct {
	Degradation, RoundTripMs, PacketLoss, JitterMs, Concealed *float64
	FrameLossPct, FrameRate, PostFECPLR                       *float64
}

// Audio classifies an audio stream: poor when one or more of CQD's five
// tests fail on the metrics it reports, unclassified when it reports none of
// the five, good otherwise. due lists every failed test.
func Audio(m Metrics) (class string, due callvault.PoorDue) {
	reported := false
	test := func(v *float64, max float64, reason callvault.PoorDue) {
		if v == nil {
			return
		}
		reported = true
		if *v > max {
			due |= reason
		}
	}
	test(m.Degradation, AudioDegradationMax, callvault.DueDegradation)
	test(m.RoundTripMs, AudioRoundTripMaxMs, callvault.DueRoundTrip)
	test(m.PacketLoss, AudioPacketLossMax, callvault.DuePacketLoss)
	test(m.JitterMs, AudioJitterMaxMs, callvault.DueJitter)
	test(m.Concealed, AudioConcealedMax, callvault.DueConcealedRatio)
	switch {
	case due != 0:
		return callvault.ClassPoor, due
	case !reported:
		return callvault.ClassUnclassified, 0
	}
	return callvault.ClassGood, 0
}

// Video classifies a video stream by CQD's video classifier and VBSS (when
// vbss) by its VBSS classifier: the first metric the stream reports, in the
// order frame loss, frame rate, post-FEC packet loss, decides good or poor;
// a stream that reports none is unclassified.
func Video(m Metrics, vbss bool) (class string, due callvault.PoorDue) {
	minRate := float64(VideoFrameRateMin)
	if vbss {
		minRate = VBSSFrameRateMin
	}
	switch {
	case m.FrameLossPct != nil:
		return verdict(*m.FrameLossPct > VideoFrameLossMaxPct, callvault.DueFrameLoss)
	case m.FrameRate != nil:
		return verdict(*m.FrameRate < minRate, callvault.DueFrameRate)
	case m.PostFECPLR != nil:
		return verdict(*m.PostFECPLR > VideoPostFECPLRMax, callvault.DuePostFECPLR)
	}
	return callvault.ClassUnclassified, 0
}

func verdict(poor bool, reason callvault.PoorDue) (string, callvault.PoorDue) {
	if poor {
		return callvault.ClassPoor, reason
	}
	return callvault.ClassGood, 0
}

// Classify classifies a stream of a media type (callvault.MediaAudio,
// MediaVideo, MediaVBSS); other media are unclassified, as CQD has no
// classifier for them in callRecords (application sharing's metrics are
// not in Graph).
func Classify(media string, m Metrics) (string, callvault.PoorDue) {
	switch media {
	case callvault.MediaAudio:
		return Audio(m)
	case callvault.MediaVideo:
		return Video(m, false)
	case callvault.MediaVBSS:
		return Video(m, true)
	}
	return callvault.ClassUnclassified, 0
}

// CallClass is CQD's classification of a call (a call leg: one segment)
// from its audio streams: poor when at least one is poor, unclassified when
// none could be classified (or it has none), good otherwise. CQD's "Audio
// Poor Call Percentage" is poor calls over classified (good and poor) calls.
func CallClass(audioClasses []string) string {
	class := callvault.ClassUnclassified
	for _, c := range audioClasses {
		switch c {
		case callvault.ClassPoor:
			return callvault.ClassPoor
		case callvault.ClassGood:
			class = callvault.ClassGood
		}
	}
	return class
}

// Reasons names the tests in due, as CQD's "Poor Due To" dimensions do.
func Reasons(due callvault.PoorDue) []string {
	var names []string
	for _, r := range reasonNames {
		if due&r.due != 0 {
			names = append(names, r.name)
		}
	}
	return names
}

var reasonNames = []struct {
	due  callvault.PoorDue
	name string
}{
	{callvault.DueDegradation, "Degradation"},
	{callvault.DueRoundTrip, "RoundTrip"},
	{callvault.DuePacketLoss, "PacketLoss"},
	{callvault.DueJitter, "Jitter"},
	{callvault.DueConcealedRatio, "ConcealedRatio"},
	{callvault.DueFrameLoss, "LocalFrameLossPercentageAvg"},
	{callvault.DueFrameRate, "FrameRateAvg"},
	{callvault.DuePostFECPLR, "PostFecplr"},
}
