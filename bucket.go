package callvault

import (
	"context"
	"time"
)

// Bucket is one throttling counter (serve --throttle): the requests counted
// under Key, of which at most Limit may be admitted in any Window.
type Bucket struct {
	Key    string
	Limit  int
	Window time.Duration
}

// BucketStore keeps throttling buckets. A store that has it keeps them for
// every server on it, so that replicas on one database share Graph's limits
// instead of each admitting them in full (PostgreSQL does).
//
// Without it (SQLite, whose database one server owns), each server counts
// in its own memory (throttle.Memory, which implements BucketStore too):
// exact for one server, N times too lenient for N.
type BucketStore interface {
	// TakeBuckets admits a request at now that falls in every bucket of bs,
	// counting it in each, if each has admitted fewer than its Limit
	// requests in the Window before now: an admission exactly one Window
	// old no longer counts. Otherwise it counts the request in none and
	// returns the index in bs of the bucket that admits it last and when:
	// the time its oldest counted admission leaves its window. refused is
	// -1 for an admitted request.
	TakeBuckets(ctx context.Context, now time.Time, bs []Bucket) (refused int, retryAt time.Time, err error)
}
