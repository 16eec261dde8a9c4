package synth

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// rng is a PCG source with the few draws the generator needs.
type rng struct{ *rand.Rand }

// Stream keys keep the record, directory and start-time streams apart, so
// that drawing more for one never shifts another.
const (
	keyRecord    = 0x7265636f7264 // "record"
	keyDirectory = 0x6469726563   // "direc"
	keyStarts    = 0x7374617274   // "start"
)

func newRNG(seed uint64, key, index uint64) rng {
	return rng{rand.New(rand.NewPCG(mix64(seed^key), mix64(index+key)))}
}

// mix64 is SplitMix64's finaliser: nearby seeds give unrelated streams.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// fnv64 hashes the tenant into the seed, so two tenants with one seed differ.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func (r rng) chance(p float64) bool { return r.Float64() < p }

func (r rng) between(lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// intBetween returns an int in [lo, hi].
func (r rng) intBetween(lo, hi int) int { return lo + r.IntN(hi-lo+1) }

// lognormal draws around median with the given log-space spread.
func (r rng) lognormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*r.NormFloat64())
}

// weighted returns an index with probability proportional to w[i].
func (r rng) weighted(w []float64) int {
	sum := 0.0
	for _, v := range w {
		sum += v
	}
	x := r.Float64() * sum
	for i, v := range w {
		if x < v {
			return i
		}
		x -= v
	}
	for i := len(w) - 1; i >= 0; i-- { // float rounding: the last non-zero weight
		if w[i] > 0 {
			return i
		}
	}
	return 0
}

func pick[T any](r rng, xs []T) T { return xs[r.IntN(len(xs))] }

// uuid returns a random (version 4) UUID in Graph's lower-case form.
func (r rng) uuid() string {
	const hex = "0123456789abcdef"
	a, b := r.Uint64(), r.Uint64()
	a = a&^0xf000 | 0x4000     // version 4
	b = b&^(0xc<<60) | 0x8<<60 // RFC 4122 variant
	var out [36]byte
	j := 0
	for i := 0; i < 32; i++ {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			out[j] = '-'
			j++
		}
		var nib uint64
		if i < 16 {
			nib = a >> (60 - 4*i) & 0xf
		} else {
			nib = b >> (60 - 4*(i-16)) & 0xf
		}
		out[j] = hex[nib]
		j++
	}
	return string(out[:])
}

// digits returns n random decimal digits.
func (r rng) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// ticks converts seconds to a Duration in whole 100 ns ticks, Graph's
// resolution.
func ticks(seconds float64) time.Duration {
	return time.Duration(math.Round(seconds*1e7)) * 100
}

// round keeps n decimals, so that Singles print short.
func round(v float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(v*p) / p
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// ipv4 formats four octets.
func ipv4(a, b, c, d int) string {
	buf := make([]byte, 0, 15)
	for i, o := range [4]int{a, b, c, d} {
		if i > 0 {
			buf = append(buf, '.')
		}
		buf = strconv.AppendInt(buf, int64(o), 10)
	}
	return string(buf)
}

// mac returns a locally administered MAC address in Windows' dashed form.
func (r rng) mac() string {
	const hex = "0123456789ABCDEF"
	buf := make([]byte, 0, 17)
	for i := 0; i < 6; i++ {
		o := r.IntN(256)
		if i == 0 {
			o = o&0xfc | 0x02
		} else {
			buf = append(buf, '-')
		}
		buf = append(buf, hex[o>>4], hex[o&0xf])
	}
	return string(buf)
}
