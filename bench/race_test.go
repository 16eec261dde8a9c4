//go:build race

package bench

// raceEnabled is true under the race detector, which makes the encoder ten
// times slower: tests then check a sample of their corpus.
const raceEnabled = true
