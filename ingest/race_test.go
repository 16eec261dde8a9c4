//go:build race

package ingest

// raceEnabled: the race detector slows the corpus tests tenfold, and the
// normalizer they check runs on one goroutine.
const raceEnabled = true
