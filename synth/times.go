package synth

import (
	"math"
	"time"
)

// weekEpoch is a Monday; hours of the week count from it.
var weekEpoch = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// hourWeight is the relative call volume of each local hour of a weekday:
// a morning peak, a lunch dip, an afternoon peak and quiet nights.
var hourWeight = [24]float64{
	0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.05, 0.20, 0.70, 1.00, 1.00, 0.90,
	0.55, 0.85, 1.00, 0.95, 0.75, 0.40, 0.15, 0.08, 0.05, 0.04, 0.03, 0.02,
}

// weekendFactor scales Saturday and Sunday against a weekday.
const weekendFactor = 0.06

// profile is the weekly call volume as a piecewise-constant density over
// the 168 local hours of a week, with its running sum for inversion.
type profile struct {
	offset float64 // the tenant's UTC offset, in hours
	w      [168]float64
	cum    [169]float64 // cum[h] = mass of hours 0..h-1
}

func newProfile(offset time.Duration) *profile {
	p := &profile{offset: offset.Hours()}
	for h := range 168 {
		p.w[h] = hourWeight[h%24]
		if h/24 >= 5 {
			p.w[h] *= weekendFactor
		}
		p.cum[h+1] = p.cum[h] + p.w[h]
	}
	return p
}

// mass returns the call volume from weekEpoch to t (local time).
func (p *profile) mass(t time.Time) float64 {
	hours := float64(t.Unix()-weekEpoch)/3600 + float64(t.Nanosecond())/3.6e12 + p.offset
	weeks := math.Floor(hours / 168)
	h := hours - weeks*168
	i := min(int(h), 167)
	return weeks*p.cum[168] + p.cum[i] + (h-float64(i))*p.w[i]
}

// at inverts mass.
func (p *profile) at(m float64) time.Time {
	weeks := math.Floor(m / p.cum[168])
	rem := m - weeks*p.cum[168]
	i := 0
	for i < 167 && p.cum[i+1] <= rem {
		i++
	}
	hours := weeks*168 + float64(i) + clamp((rem-p.cum[i])/p.w[i], 0, 1) - p.offset
	sec := math.Floor(hours * 3600)
	ns := math.Round((hours*3600 - sec) * 1e9)
	return time.Unix(weekEpoch+int64(sec), int64(ns)).UTC().Truncate(100)
}

// startTimes yields n start times in [from, to) in ascending order, drawn
// from the weekly profile, without holding them: the i-th smallest of n
// uniforms follows from the (i-1)-th alone.
type startTimes struct {
	r      rng
	p      *profile
	m0, m1 float64
	left   int
	u      float64 // the last order statistic drawn
}

func newStartTimes(r rng, p *profile, from, to time.Time, n int) *startTimes {
	return &startTimes{r: r, p: p, m0: p.mass(from), m1: p.mass(to), left: n}
}

func (s *startTimes) next() time.Time {
	s.u = 1 - (1-s.u)*math.Pow(1-s.r.Float64(), 1/float64(max(s.left, 1)))
	s.left--
	return s.p.at(s.m0 + s.u*(s.m1-s.m0))
}
