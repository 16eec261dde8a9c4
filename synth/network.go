package synth

import (
	"strconv"
	"time"
)

// network is what a client (or a service) reports of its network for a
// whole session; event ratios are drawn per media while writing.
type network struct {
	conn                int // a net* constant
	tcp                 bool
	ip, subnet          string
	port                int
	reflexive           string
	relay               string
	relayPort           int
	mac, dns            string
	linkSpeed           int64 // 0: not reported
	band, radio         string
	channel, signal     int
	battery             int
	bssid               string
	vendorDriver        string
	vendorDriverVersion string
	msDriver            string
	msDriverVersion     string
	hops                []hop
}

type hop struct {
	count int
	ip    string
	rtt   time.Duration
}

// maxUint32 is what many virtual and VPN adapters report as link speed.
const maxUint32 = 4294967295

var (
	wiredSpeeds  = []int64{1_000_000_000, 100_000_000, 2_500_000_000, 10_000_000_000, maxUint32}
	wiredWeights = []float64{0.60, 0.15, 0.10, 0.05, 0.10}
	// Wi-Fi link speeds by radio type.
	wifiSpeeds = map[string][]int64{
		"wifi80211g":  {54_000_000},
		"wifi80211n":  {72_200_000, 144_400_000, 300_000_000},
		"wifi80211ac": {433_300_000, 866_700_000},
		"wifi80211ax": {573_500_000, 1_201_000_000, 2_402_000_000},
	}
	wifiDrivers = [][2]string{
		{"Intel(R) Wi-Fi 6 AX201 160MHz", "22.250.1.2"},
		{"Intel(R) Wi-Fi 6E AX211 160MHz", "23.60.0.10"},
		{"Realtek RTL8852BE WiFi 6 802.11ax PCIe Adapter", "6001.16.153.0"},
		{"Qualcomm Atheros QCA61x4A Wireless Network Adapter", "12.0.0.1118"},
	}
	channels24 = []int{1, 6, 11}
	channels5  = []int{36, 40, 44, 48, 52, 100, 116, 149, 153, 157, 161}
	// Documentation ranges (RFC 5737) stand in for clients' public addresses.
	publicPrefixes = [][3]int{{198, 51, 100}, {203, 0, 113}, {192, 0, 2}}
)

// newNetwork draws a client's network; conn forces the connection type
// unless it is negative.
func (g *gen) newNetwork(r rng, platform, conn int) *network {
	if conn < 0 {
		conn = r.weighted(g.netGiven[platform][:])
	}
	n := &network{conn: conn, band: "unknown", radio: "unknown"}
	computer := platform != platIOS && platform != platAndroid && platform != platIPPhone
	switch conn {
	case netWired:
		b, c := r.IntN(256), r.IntN(256)
		n.ip, n.subnet = ipv4(10, b, c, r.intBetween(2, 250)), ipv4(10, b, c, 0)
		n.linkSpeed = wiredSpeeds[r.weighted(wiredWeights)]
		n.dns = "corp." + g.domain
	case netWifi:
		if r.chance(0.55) { // from home
			c := pick(r, []int{0, 1, 68, 178})
			n.ip, n.subnet = ipv4(192, 168, c, r.intBetween(2, 250)), ipv4(192, 168, c, 0)
			n.dns = pick(r, []string{"", "home", "lan", "localdomain"})
		} else {
			b, c := r.IntN(256), r.IntN(256)
			n.ip, n.subnet = ipv4(10, b, c, r.intBetween(2, 250)), ipv4(10, b, c, 0)
			n.dns = "corp." + g.domain
		}
		if r.chance(0.25) {
			n.band = "frequency24GHz"
			n.radio = []string{"wifi80211n", "wifi80211ax", "wifi80211g"}[r.weighted([]float64{0.5, 0.3, 0.2})]
			n.channel = pick(r, channels24)
		} else {
			n.band = "frequency50GHz"
			n.radio = []string{"wifi80211ac", "wifi80211ax", "wifi80211n"}[r.weighted([]float64{0.5, 0.4, 0.1})]
			n.channel = pick(r, channels5)
		}
		n.linkSpeed = pick(r, wifiSpeeds[n.radio])
		n.signal = int(clamp(r.NormFloat64()*15+75, 5, 100))
		n.bssid = r.mac()
		if platform == platWindows || platform == platHub {
			d := pick(r, wifiDrivers)
			n.vendorDriver, n.vendorDriverVersion = d[0], d[1]
			n.msDriver, n.msDriverVersion = "Microsoft", "10.0.22621.3672"
		}
		if platform == platWindows || platform == platMacOS || !computer {
			if r.chance(0.7) {
				n.battery = r.intBetween(5, 100)
			}
		}
	case netMobile:
		n.ip = ipv4(100, r.intBetween(64, 127), r.IntN(256), r.intBetween(1, 254))
	case netTunnel:
		b, c := r.intBetween(16, 31), r.IntN(256)
		n.ip, n.subnet = ipv4(172, b, c, r.intBetween(2, 250)), ipv4(172, b, c, 0)
		n.linkSpeed = []int64{maxUint32, 100_000_000, 1_000_000_000}[r.weighted([]float64{0.5, 0.25, 0.25})]
		n.dns = "vpn." + g.domain
	}
	if computer && conn != netMobile {
		n.mac = r.mac()
	}
	if r.chance(0.7) {
		n.port = r.intBetween(50000, 50019) // Teams' client media ports
	} else {
		n.port = r.intBetween(49152, 65535)
	}
	pp := pick(r, publicPrefixes)
	n.reflexive = ipv4(pp[0], pp[1], pp[2], r.intBetween(1, 254))
	relayShare, tcpShare := 0.2, g.mix.TCPShare
	if conn == netTunnel {
		relayShare, tcpShare = 0.7, 4*tcpShare
	}
	if r.chance(relayShare) {
		n.relay, n.relayPort = teamsAddress(r), r.intBetween(3478, 3481)
	}
	n.tcp = r.chance(tcpShare)
	if r.chance(0.3) {
		n.hops = traceRoute(r, n)
	}
	return n
}

// teamsAddress is an address in Microsoft's Teams media range 52.112.0.0/14.
func teamsAddress(r rng) string {
	return ipv4(52, r.intBetween(112, 115), r.IntN(256), r.intBetween(1, 254))
}

// serviceNetwork is the datacenter side of a service endpoint.
func serviceNetwork(r rng) *network {
	return &network{conn: netService, ip: teamsAddress(r), port: r.intBetween(3478, 3481), band: "unknown", radio: "unknown"}
}

// traceRoute draws a few hops from the client towards Microsoft's edge.
func traceRoute(r rng, n *network) []hop {
	hops := make([]hop, r.intBetween(2, 5))
	rtt := r.between(0.5, 3)
	for i := range hops {
		var ip string
		switch {
		case i == 0 && n.subnet != "":
			ip = n.subnet[:len(n.subnet)-1] + "1" // the gateway: x.y.z.1
		case i == len(hops)-1:
			ip = ipv4(104, 44, r.IntN(256), r.intBetween(1, 254)) // Microsoft's edge
		default:
			pp := pick(r, publicPrefixes)
			ip = ipv4(pp[0], pp[1], pp[2], r.intBetween(1, 254))
		}
		hops[i] = hop{count: i + 1, ip: ip, rtt: ticks(rtt / 1000)}
		rtt += r.between(1, 12) * float64(i+1)
	}
	return hops
}

// writeNetwork writes a networkInfo; poor raises its event ratios.
func (w *writer) writeNetwork(k string, n *network, poor bool) {
	e, r := w.e, w.r
	e.open(k)
	e.str("connectionType", connectionName[n.conn])
	proto := "udp"
	if n.tcp {
		proto = "tcp"
	}
	e.str("networkTransportProtocol", proto)
	e.str("ipAddress", n.ip)
	e.optStr("subnet", n.subnet)
	if n.port > 0 {
		e.int("port", int64(n.port))
	}
	e.optStr("reflexiveIPAddress", n.reflexive)
	e.optStr("relayIPAddress", n.relay)
	if n.relayPort > 0 {
		e.int("relayPort", int64(n.relayPort))
	}
	e.optStr("macAddress", n.mac)
	e.optStr("dnsSuffix", n.dns)
	if n.linkSpeed > 0 {
		e.int("linkSpeed", n.linkSpeed)
	}
	e.str("wifiBand", n.band)
	e.str("wifiRadioType", n.radio)
	if n.conn == netWifi {
		e.int("wifiChannel", int64(n.channel))
		e.int("wifiSignalStrength", int64(n.signal))
		if n.battery > 0 {
			e.int("wifiBatteryCharge", int64(n.battery))
		}
		e.optStr("basicServiceSetIdentifier", n.bssid)
		e.optStr("wifiVendorDriver", n.vendorDriver)
		e.optStr("wifiVendorDriverVersion", n.vendorDriverVersion)
		e.optStr("wifiMicrosoftDriver", n.msDriver)
		e.optStr("wifiMicrosoftDriverVersion", n.msDriverVersion)
	}
	if n.conn != netService {
		for _, name := range []string{"bandwidthLowEventRatio", "delayEventRatio", "receivedQualityEventRatio", "sentQualityEventRatio"} {
			v := 0.0
			switch {
			case poor:
				v = r.between(0.05, 0.4)
			case r.chance(0.3):
				v = r.between(0, 0.05)
			}
			e.single(name, round(v, 4))
		}
	}
	e.openArr("traceRouteHops")
	for _, h := range n.hops {
		e.open("")
		e.int("hopCount", int64(h.count))
		e.str("ipAddress", h.ip)
		e.duration("roundTripTime", h.rtt)
		e.close()
	}
	e.closeArr()
	e.close()
}

// streamID is a stream's 32-bit SSRC-like id as a decimal string.
func streamID(r rng) string { return strconv.FormatUint(uint64(r.Uint32()), 10) }
