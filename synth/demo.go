package synth

import "time"

// The demo data set's tenant and the ids of its named records.
const (
	// DemoTenant is the tenant of Graph's documentation examples.
	DemoTenant = "dc368399-474c-4d40-900c-6265431fd81f"
	// DemoCallID is a peer-to-peer call shaped like Graph's example: Abbie
	// Wilkins (Skype for Business on Android) calls Owen Franklin (Skype for
	// Business on Windows), who rates it poor because it was noisy.
	DemoCallID = "e523d2ed-2966-4b6b-925b-754a88034cc5"
	// DemoMeetingID is a scheduled meeting organised by Zoë Åkesson with
	// 150 sessions: 149 participants and the announcement service.
	DemoMeetingID = "0b7e4f62-3c1d-4a59-9e8b-150a5e551e01"
	// DemoACSCallID is a peer-to-peer call from a Teams user to an Azure
	// Communication Services user (productFamily azureCommunicationServices).
	DemoACSCallID = "a5c0e1d2-7b3f-4e8a-9c6d-2f1e0ac5c411"
	// DemoFailedCallID is a peer-to-peer call from Renée O'Brien to 李雷
	// that failed at call setup.
	DemoFailedCallID = "f4113d00-2b6e-4c1a-8d3f-5e7a9c0b1d2e"
)

// demoSeed fixes the demo's random parts.
const demoSeed = 20200225

// demoPeople open the demo directory: the users of Graph's examples and a
// few whose names are not ASCII.
var demoPeople = []person{
	{kind: member, id: "821809f5-0000-0000-0000-3b5136c0e777", name: "Abbie Wilkins", upn: "abbie.wilkins@contoso.com", ascii: "abbie"},
	{kind: member, id: "f69e2c00-0000-0000-0000-185e5f5f5d8a", name: "Owen Franklin", upn: "owen.franklin@contoso.com", ascii: "owen"},
	{kind: member, id: "5a0c7e1e-93b4-4c55-8d9f-2b1f3c0e9a41", name: "Zoë Åkesson", upn: "zoe.akesson@contoso.com", ascii: "zoe"},
	{kind: member, id: "c1d2e3f4-5a6b-4c7d-8e9f-0a1b2c3d4e5f", name: "李雷", upn: "lei.li@contoso.com", ascii: "lei"},
	{kind: member, id: "7e6d5c4b-3a29-4817-9605-f4e3d2c1b0a9", name: "Renée O'Brien", upn: "renee.obrien@contoso.com", ascii: "renee"},
	{kind: member, id: "00005994-851d-4988-bbc3-413bbf089e13", name: "Anette Thomsen", upn: "anette.thomsen@contoso.com", ascii: "anette"},
	{kind: member, id: "13fd6bf0-f646-4b82-b0ad-cd28ce10d6e3", name: "Daichi Maruyama", upn: "daichi.maruyama@contoso.com", ascii: "daichi"},
	{kind: member, id: "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", name: "Søren Kierkegård", upn: "soren.kierkegard@contoso.com", ascii: "soren"},
}

// Demo returns a small fixed data set as JSON Lines: twelve records of
// DemoTenant in the week of 24 February 2020. Besides the named records
// (DemoCallID, DemoMeetingID, DemoACSCallID, DemoFailedCallID) it holds a
// meeting with a mid-call drop, a video call over wifi whose bandwidth
// estimate is 2^53+1, calls over mobile and VPN networks, and a few calls
// drawn from DefaultMix. Non-ASCII names appear throughout.
func Demo() []byte {
	from := demoWeek
	g := newGen(DemoTenant, demoSeed, DefaultMix(), from.Add(5*24*time.Hour), demoDirectory())
	specs := demoSpecs(from, 0)

	var e enc
	var st Stats
	out := make([]byte, 0, 2<<20)
	e.reset()
	g.write(&e, g.demoCall(0, 1), &st)
	out = append(append(out, e.b...), '\n')
	for _, s := range specs {
		e.reset()
		g.write(&e, g.plan(s), &st)
		out = append(append(out, e.b...), '\n')
	}
	return out
}

// demoWeek starts the week of Demo (a Monday).
var demoWeek = time.Date(2020, 2, 24, 0, 0, 0, 0, time.UTC)

// demoDirectory returns demoPeople as users of DemoTenant, to open a
// generator's directory.
func demoDirectory() []person {
	people := make([]person, len(demoPeople))
	copy(people, demoPeople)
	for i := range people {
		people[i].tenant = DemoTenant
	}
	return people
}

// demoSpecs returns the named records of the demo, and a few others, in
// the five days that begin at from; their random streams are index+2 to
// index+12. The meeting (DemoMeetingID) comes first.
func demoSpecs(from time.Time, index uint64) []recordSpec {
	at := func(day, hour, minute int) time.Time {
		return from.Add(time.Duration(day)*24*time.Hour + time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
	}
	spec := func(i int, start time.Time) recordSpec { return anySpec(index+uint64(i), start) }

	var specs []recordSpec
	meeting := spec(2, at(1, 14, 0))
	meeting.id, meeting.sessions, meeting.shape = DemoMeetingID, 150, shapeGroup
	meeting.people, meeting.share, meeting.scheduled = []int{2, 3, 4, 5, 6, 7}, true, true
	specs = append(specs, meeting)

	acs := spec(3, at(0, 10, 30))
	acs.id, acs.shape, acs.people = DemoACSCallID, shapeP2P, []int{5}
	acs.callee, acs.forceKind = acsUser, true
	specs = append(specs, acs)

	failed := spec(4, at(2, 9, 15))
	failed.id, failed.shape, failed.people, failed.failure = DemoFailedCallID, shapeP2P, []int{4, 3}, "callSetup"
	specs = append(specs, failed)

	dropped := spec(5, at(2, 11, 0))
	dropped.shape, dropped.failure, dropped.people = shapeGroup, "midcall", []int{7}
	specs = append(specs, dropped)

	wifi := spec(6, at(3, 8, 45))
	wifi.shape, wifi.net, wifi.video, wifi.hugeInt64, wifi.people = shapeP2P, netWifi, true, true, []int{3, 2}
	specs = append(specs, wifi)

	mobile := spec(7, at(3, 16, 20))
	mobile.shape, mobile.net = shapeP2P, netMobile
	specs = append(specs, mobile)

	vpn := spec(8, at(4, 13, 0))
	vpn.shape, vpn.net, vpn.share = shapeGroup, netTunnel, true
	specs = append(specs, vpn)

	for i, start := range []time.Time{at(0, 9, 5), at(1, 10, 40), at(2, 15, 10), at(4, 9, 50)} {
		specs = append(specs, spec(9+i, start))
	}
	return specs
}

// demoCall builds the call of Graph's get and list-sessions examples, with
// its ids, devices and networks, completed with generated metrics, on 25
// February 2020 as in the examples, moved later by shift; index selects its
// random stream.
func (g *gen) demoCall(shift time.Duration, index uint64) *record {
	abbie, owen := &g.dir[0], &g.dir[1]
	t := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		return v.Add(shift)
	}
	start, end := t("2020-02-25T18:52:21.2169889Z"), t("2020-02-25T18:52:46.7640013Z")
	rec := &record{
		r: newRNG(g.seed, keyRecord, index), id: DemoCallID, version: 1,
		start: start, end: end, modified: t("2020-02-25T19:00:24.582757Z"),
		organizer: abbie, people: []*person{abbie, owen},
	}
	android, windows := sfbAgents[platAndroid], sfbAgents[platWindows]
	caller := &client{
		who: abbie, platform: platAndroid, family: "skypeForBusiness", header: android[0], version: android[1],
		machine: "machineName_1", cpu: "AMD EPYC 7452 32-Core Processor", cores: 8, mhz: 2346,
		kit: deviceKit{capture: "Default input device", render: "Default output device"},
		net: &network{conn: netWifi, ip: "10.150.0.2", subnet: "10.150.0.0", port: 50010, linkSpeed: 54_000_000,
			band: "frequency24GHz", radio: "wifi80211g", channel: 6, signal: 71, battery: 64, bssid: "02-1A-2B-3C-4D-5E",
			reflexive: "198.51.100.23"},
	}
	callee := &client{
		who: owen, platform: platWindows, family: "skypeForBusiness", header: windows[0], version: windows[1],
		machine: "machineName_2", cpu: "Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz", cores: 2, mhz: 2594,
		kit: deviceKit{
			capture: "Microphone (Microsoft Virtual Audio Device (Simple) (WDM))", captureDriver: "Microsoft: 5.0.8638.1100",
			render: "Speakers (Microsoft Virtual Audio Device (Simple) (WDM))",
		},
		net: &network{conn: netWired, ip: "10.139.0.12", subnet: "10.139.80.0", port: 50003, linkSpeed: maxUint32,
			band: "unknown", radio: "unknown", dns: "corp.contoso.com", mac: "06-3D-8F-21-7A-90", reflexive: "203.0.113.77"},
	}
	tokens := make([]token, len(feedbackTokens))
	for i, name := range feedbackTokens {
		tokens[i] = token{name: name, on: name == "Noisy"}
	}
	rec.sessions = []*session{{
		id: DemoCallID, start: start, end: end, share: -1,
		caller: &endpoint{client: caller}, callee: &endpoint{client: callee},
		feedback: &feedback{rating: "poor", tokens: tokens}, onCallee: true,
		audioCodec: "silkWide",
		segments: []*segment{{
			id: DemoCallID, start: start, end: end, media: true,
			fix: &audioFix{streamID: "1504545584", jitter: 16 * time.Millisecond, nullDegrade: true},
		}},
	}}
	return rec
}
