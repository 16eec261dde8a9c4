package synth

import (
	"cmp"
	"strconv"
	"strings"
)

// Well-known Entra app ids of Microsoft's Teams clients.
const (
	teamsDesktopApp = "1fec8e78-bce4-4aaf-ab1b-5451cc387264"
	teamsWebApp     = "5e3ce6c0-2b1f-4285-8d4b-75ee78787346"
)

// teamsAgent describes the Teams client of one platform. The header values
// imitate Teams' "SkypeSpaces" user agents; they are plausible, not copied
// from real telemetry.
type teamsAgent struct {
	app, os, osVersion, deviceType, browser string
	versions                                []string
}

var teamsAgents = [nPlat]teamsAgent{
	platWindows: {"1415", "windows", "10.0.22631", "computer", "msteams", []string{"24295.605.3225.8804", "24335.208.3315.1951", "25007.214.3338.5210"}},
	platMacOS:   {"1415", "mac", "14.6.1", "computer", "msteams", []string{"24277.3507.3205.5228", "24335.211.3315.1951"}},
	platWeb:     {"1415", "windows", "10", "computer", "edgeChromium", []string{"131.0.0.0", "130.0.0.0"}},
	platIOS:     {"1415", "ios", "18.1", "phone", "teams", []string{"6.25.1", "6.24.2"}},
	platAndroid: {"1416", "android", "14", "phone", "teams", []string{"1.0.0.2024213501", "1.0.0.2024203702"}},
	platIPPhone: {"1449", "android", "9", "ipphone", "teams", []string{"1.0.94.2024061704"}},
	platRoom:    {"1415", "windows", "10.0.19045", "mtr", "msteams", []string{"5.2.115.0", "5.1.25.0"}},
	platHub:     {"1415", "windows", "10.0.19045", "surfacehub", "msteams", []string{"24295.605.3225.8804"}},
}

// sfbAgents are Skype for Business and Lync user agents; the Android and
// Windows ones are those of Graph's own examples.
var sfbAgents = map[int][2]string{
	platWindows: {"UCCAPI/16.0.12527.20122 OC/16.0.12527.20194 (Skype for Business)", "16.0.12527.20194"},
	platMacOS:   {"UCCAPI/16.28.0.0 OC/16.28.0.143 (Skype for Business for Mac)", "16.28.0.143"},
	platIOS:     {"RTCC/7.0.0.0 UCWA/7.0.0.0 iPhoneLync/6.26.0.10 (iPhone iOS 14.4)", "6.26.0.10"},
	platAndroid: {"RTCC/7.0.0.0 UCWA/7.0.0.0 AndroidLync/6.25.0.27 (SM-G930U Android 8.0.0)", "6.25.0.27"},
}

var lyncAgent = [2]string{"UCCAPI/15.0.5023.1000 OC/15.0.5023.1000 (Microsoft Lync)", "15.0.5023.1000"}

// acsAgents are Azure Communication Services calling SDK user agents.
var acsAgents = map[int][2]string{
	platWeb:     {"azsdk-js-communication-calling/1.29.1 (Chrome 131.0.0.0; Windows 10)", "1.29.1"},
	platWindows: {"azsdk-win-communication-calling/1.9.0 (Windows 10.0.22631)", "1.9.0"},
	platIOS:     {"azsdk-ios-communication-calling/2.13.0 (iOS 18.1)", "2.13.0"},
	platAndroid: {"azsdk-android-communication-calling/2.11.0 (Android 14)", "2.11.0"},
}

type cpu struct {
	name       string
	cores, mhz int
}

var cpus = [nPlat][]cpu{
	platWindows: {
		{"11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", 8, 2995},
		{"12th Gen Intel(R) Core(TM) i5-1245U", 12, 1600},
		{"13th Gen Intel(R) Core(TM) i7-1365U", 12, 1800},
		{"AMD Ryzen 7 PRO 5850U with Radeon Graphics", 16, 1901},
		{"Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz", 8, 1896},
		{"Snapdragon(R) X Elite - X1E78100 - Qualcomm(R) Oryon(TM) CPU", 12, 3417},
		{"Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz", 2, 2594}, // virtual desktops
		{"AMD EPYC 7452 32-Core Processor", 8, 2346},
	},
	platMacOS: {{"Apple M1", 8, 3200}, {"Apple M2 Pro", 12, 3504}, {"Apple M3", 8, 4056}, {"Intel(R) Core(TM) i7-9750H CPU @ 2.60GHz", 12, 2600}},
	platIOS:   {{"Apple A16 Bionic", 6, 3460}, {"Apple A17 Pro", 6, 3780}},
	platAndroid: {
		{"Qualcomm Technologies, Inc SM8550", 8, 3360},
		{"Google Tensor G3", 9, 2910},
		{"MediaTek Dimensity 7050", 8, 2600},
	},
	platRoom: {{"Intel(R) Core(TM) i7-8665UE CPU @ 1.70GHz", 8, 2112}, {"11th Gen Intel(R) Core(TM) i5-1145G7E @ 2.60GHz", 8, 2611}},
	platHub:  {{"Intel(R) Core(TM) i5-8365U CPU @ 1.60GHz", 8, 1896}},
}

var (
	phoneModels  = map[int][]string{platIOS: {"iPhone", "iPad"}, platAndroid: {"SM-S918B", "Pixel 8 Pro", "moto g84 5G"}, platIPPhone: {"Yealink MP56", "Poly CCX 500", "AudioCodes C450HD"}}
	roomNames    = []string{"OSLO-4F", "BOARDRM-01", "LISBOA", "KYOTO-2", "SALA-ÁGORA", "HUDDLE-7"}
	winPrefixes  = []string{"DESKTOP-", "LAPTOP-", "CONTOSO-L"}
	machineChars = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
)

// deviceKit is a pair of audio devices that belong together.
type deviceKit struct {
	capture, captureDriver, render, renderDriver string
}

var kits = [nPlat][]deviceKit{
	platWindows: {
		{"Microphone Array (Realtek(R) Audio)", "Realtek: 6.0.9549.1", "Speakers (Realtek(R) Audio)", "Realtek: 6.0.9549.1"},
		{"Headset Microphone (Jabra Evolve2 65)", "Microsoft: 10.0.22621.2506", "Headset Earphone (Jabra Evolve2 65)", "Microsoft: 10.0.22621.2506"},
		{"Echo Cancelling Speakerphone (Jabra SPEAK 510 USB)", "Microsoft: 10.0.22621.1", "Echo Cancelling Speakerphone (Jabra SPEAK 510 USB)", "Microsoft: 10.0.22621.1"},
		{"Microphone (Poly BT700)", "Microsoft: 10.0.22621.1", "Speakers (Poly BT700)", "Microsoft: 10.0.22621.1"},
		{"Headset (AirPods Pro) Hands-Free", "Microsoft: 10.0.22621.2506", "Headphones (AirPods Pro) Stereo", "Microsoft: 10.0.22621.2506"},
		{"Surface Stereo Microphones (Surface High Definition Audio)", "Realtek: 6.0.9326.1", "Surface Omnisonic Speakers (Surface High Definition Audio)", "Realtek: 6.0.9326.1"},
		{"Microphone (Microsoft Virtual Audio Device (Simple) (WDM))", "Microsoft: 5.0.8638.1100", "Speakers (Microsoft Virtual Audio Device (Simple) (WDM))", "Microsoft: 5.0.8638.1100"},
	},
	platMacOS: {
		{"MacBook Pro Microphone", "Apple: 1.0", "MacBook Pro Speakers", "Apple: 1.0"},
		{"AirPods Pro", "Apple: 1.0", "AirPods Pro", "Apple: 1.0"},
		{"External Microphone", "Apple: 1.0", "External Headphones", "Apple: 1.0"},
	},
	platWeb:     {{"Default - Microphone Array (Realtek(R) Audio)", "", "Default - Speakers (Realtek(R) Audio)", ""}, {"Default input device", "", "Default output device", ""}},
	platIOS:     {{"iPhone Microphone", "", "Receiver", ""}, {"AirPods Pro", "", "AirPods Pro", ""}, {"iPhone Microphone", "", "Speaker", ""}},
	platAndroid: {{"Default input device", "", "Default output device", ""}, {"Headset Microphone", "", "Bluetooth Headset", ""}},
	platIPPhone: {{"Handset", "", "Handset", ""}, {"Speakerphone", "", "Speakerphone", ""}, {"Headset", "", "Headset", ""}},
	platRoom: {
		{"Echo Cancelling Speakerphone (Logitech Rally)", "Microsoft: 10.0.19041.1", "Echo Cancelling Speakerphone (Logitech Rally)", "Microsoft: 10.0.19041.1"},
		{"Microphone (Yealink MeetingBar A30)", "Microsoft: 10.0.19041.1", "Speakers (Yealink MeetingBar A30)", "Microsoft: 10.0.19041.1"},
	},
	platHub: {{"Microphone Array (Surface Hub 2S)", "Microsoft: 10.0.19041.1", "Speakers (Surface Hub 2S)", "Microsoft: 10.0.19041.1"}},
}

// newClient draws the device a participant joins with.
func (g *gen) newClient(r rng, p *person, net int) *client {
	c := &client{who: p, family: "teams"}
	switch p.kind {
	case acsUser:
		c.platform = []int{platWeb, platWindows, platIOS, platAndroid}[r.weighted([]float64{0.6, 0.1, 0.15, 0.15})]
		c.family = "azureCommunicationServices"
	case anonymous:
		c.platform = []int{platWeb, platWindows, platIOS, platAndroid}[r.weighted([]float64{0.7, 0.1, 0.1, 0.1})]
	default:
		c.platform = r.weighted(g.mix.Platforms.list())
		if _, ok := sfbAgents[c.platform]; ok && r.chance(g.mix.SkypeForBusinessShare) {
			c.family = "skypeForBusiness"
			if c.platform == platWindows && r.chance(0.2) {
				c.family = "lync"
			}
		}
	}
	switch c.family {
	case "azureCommunicationServices":
		a := acsAgents[c.platform]
		c.header, c.version = a[0], a[1]
		c.aadApp, c.acsResource = g.acsApp, g.acsResource
	case "skypeForBusiness":
		a := sfbAgents[c.platform]
		c.header, c.version = a[0], a[1]
	case "lync":
		c.header, c.version = lyncAgent[0], lyncAgent[1]
	default:
		t := teamsAgents[c.platform]
		v := pick(r, t.versions)
		browserVersion := v
		if c.platform == platWeb {
			c.header = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + v +
				" Safari/537.36 Edg/" + v + " "
			v = "24110115722"
		}
		c.header += "SkypeSpaces/" + t.app + "/" + v + "/os=" + t.os + "; osVer=" + t.osVersion +
			"; deviceType=" + t.deviceType + "; browser=" + t.browser + "; browserVer=" + browserVersion
		c.version = v
		switch c.platform {
		case platWeb:
			c.aadApp = teamsWebApp
		case platWindows, platMacOS, platIOS, platAndroid:
			c.aadApp = teamsDesktopApp
		}
	}
	c.machine = machineName(r, c.platform, p)
	if cs := cpus[c.platform]; len(cs) > 0 {
		x := pick(r, cs)
		c.cpu, c.cores, c.mhz = x.name, x.cores, x.mhz
	}
	c.kit = pick(r, kits[c.platform])
	c.net = g.newNetwork(r, c.platform, net)
	return c
}

func machineName(r rng, platform int, p *person) string {
	switch platform {
	case platWindows:
		b := []byte(pick(r, winPrefixes))
		for range 7 {
			b = append(b, machineChars[r.IntN(len(machineChars))])
		}
		return string(b)
	case platMacOS:
		first := p.ascii
		if first != "" {
			first = strings.ToUpper(first[:1]) + first[1:]
		}
		return first + "s-" + pick(r, []string{"MacBook-Pro", "MacBook-Air", "Mac-mini"})
	case platIOS, platAndroid, platIPPhone:
		return pick(r, phoneModels[platform])
	case platRoom:
		return "MTR-" + pick(r, roomNames)
	case platHub:
		return "SURFACEHUB-" + strconv.FormatUint(uint64(r.Uint32()&0xffff), 16)
	}
	return "" // a browser reports no machine name
}

// serviceAgents are the user agents of Microsoft's media services. They
// are made up: real values are not documented.
var serviceAgents = map[string][2]string{
	"skypeForBusinessAudioVideoMcu":   {"AVMCU/2024.43.01.2 (Microsoft Teams media)", "2024.43.01.2"},
	"conferencingAnnouncementService": {"CAS/2024.42.0.11 (Microsoft Teams announcement service)", "2024.42.0.11"},
	"mediaController":                 {"MediaController/2024.43.1.5", "2024.43.1.5"},
	"mediationServer":                 {"Microsoft.PSTNHub.SIPProxy v.2024.11.3.2 i.EUNO.1", "2024.11.3.2"},
	"customBot":                       {"TestCallBot/1.0 (Teams echo service)", "1.0"},
}

func (g *gen) newService(r rng, role string) *service {
	a := serviceAgents[role]
	return &service{role: role, header: a[0], version: a[1], net: serviceNetwork(r)}
}

// pickCodecs chooses a session's codecs from its endpoints.
func (g *gen) pickCodecs(r rng, s *session) {
	family, platform := "", -1
	if c := cmp.Or(s.caller.client, s.callee.client); c != nil {
		family, platform = c.family, c.platform
	}
	switch {
	case s.caller.service != nil && s.caller.service.role == "mediationServer":
		s.audioCodec = pick(r, []string{"g722", "pcmu", "pcma"})
	case family == "":
		s.audioCodec = "satin"
	case family == "azureCommunicationServices":
		s.audioCodec = "opus"
	case family == "skypeForBusiness" || family == "lync":
		s.audioCodec = pick(r, []string{"rtAudio16", "siren", "g722"})
	case platform == platIOS || platform == platAndroid:
		s.audioCodec = pick(r, []string{"silkWide", "satin", "opus"})
	case platform == platIPPhone:
		s.audioCodec = pick(r, []string{"g722", "silkWide"})
	default:
		s.audioCodec = pick(r, []string{"satin", "satinFullband", "opus"})
	}
	switch family {
	case "skypeForBusiness", "lync":
		s.videoCodec = pick(r, []string{"h264uc", "rtVideo", "xrtvc1"})
		s.shareCodec = "rtvc1"
	default:
		s.videoCodec = []string{"h264", "av1", "h264s"}[r.weighted([]float64{0.7, 0.2, 0.1})]
		s.shareCodec = []string{"h264", "av1"}[r.weighted([]float64{0.8, 0.2})]
	}
}
