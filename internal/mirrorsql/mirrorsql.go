// Package mirrorsql is what both stores' mirror queues share of
// callvault.MirrorListingStore: how a listing's lastModifiedDateTime is
// kept in a column and read back. Each store keeps its own SQL.
package mirrorsql

import "time"

// Nanos is a listing's lastModifiedDateTime as the queue keeps it: unix
// nanoseconds, 0 for none.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Time reads what Nanos wrote.
func Time(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
