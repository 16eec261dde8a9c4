package callvault

import (
	"math"
	"time"
)

// Both stores keep times as int64 keys: unix nanoseconds, which sort and
// compare as numbers and keep the 100 ns precision of Graph's
// DateTimeOffset values. The zero time.Time, which is earlier than every
// other, is ZeroKey, the smallest int64, so it sorts first and falls in a
// range as time.Time would; the one real instant that key would stand for
// is refused. The real times a store holds are those after it, up to the
// largest int64 (years 1677 to 2262).
const ZeroKey = math.MinInt64

// The earliest and latest real times a key holds.
var (
	earliestKeyTime = time.Unix(0, ZeroKey+1)
	latestKeyTime   = time.Unix(0, math.MaxInt64)
)

// TimeKey returns the key of t, or an EINVALID error for a time no key
// holds.
func TimeKey(t time.Time) (int64, error) {
	if t.IsZero() {
		return ZeroKey, nil
	} else if t.Before(earliestKeyTime) || t.After(latestKeyTime) {
		return 0, Errorf(EINVALID, "The time %s is out of range.", t.UTC().Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

// KeyTime returns the time of a key, in UTC.
func KeyTime(k int64) time.Time {
	if k == ZeroKey {
		return time.Time{}
	}
	return time.Unix(0, k).UTC()
}

// Keys returns the inclusive range [lo, hi] of the keys whose times r
// contains (as Contains has it), and false when there are none. A bound
// outside the keys' range is clamped to it.
func (r TimeRange) Keys() (lo, hi int64, ok bool) {
	lo, hi = ZeroKey, math.MaxInt64
	if !r.From.IsZero() {
		if lo, ok = lowerKey(r.From, r.FromInclusive); !ok {
			return 0, 0, false
		}
	}
	if !r.To.IsZero() {
		if hi, ok = upperKey(r.To, r.ToInclusive); !ok {
			return 0, 0, false
		}
	}
	return lo, hi, lo <= hi
}

// lowerKey returns the least key of the times at or after t (after t when
// not inclusive), and false when there is none.
func lowerKey(t time.Time, inclusive bool) (int64, bool) {
	switch zero := (time.Time{}); {
	case t.Before(zero) || (t.Equal(zero) && inclusive):
		return ZeroKey, true
	case t.Before(earliestKeyTime):
		return ZeroKey + 1, true
	case t.After(latestKeyTime):
		return 0, false
	}
	n := t.UnixNano()
	if inclusive {
		return n, true
	} else if n == math.MaxInt64 {
		return 0, false
	}
	return n + 1, true
}

// upperKey returns the greatest key of the times at or before t (before t
// when not inclusive), and false when there is none.
func upperKey(t time.Time, inclusive bool) (int64, bool) {
	switch zero := (time.Time{}); {
	case t.Before(zero) || (t.Equal(zero) && !inclusive):
		return 0, false
	case t.Before(earliestKeyTime):
		return ZeroKey, true
	case t.After(latestKeyTime):
		return math.MaxInt64, true
	}
	n := t.UnixNano()
	if inclusive {
		return n, true
	}
	return n - 1, true // n-1 is ZeroKey at least, as t is not before earliestKeyTime
}

// RecordKeys is a RecordQuery's range as keys: start_time in [Lo, Hi],
// end_time in [NotBefore, EndedBy]. Empty is true when no stored time
// matches.
type RecordKeys struct {
	Lo, Hi, NotBefore, EndedBy int64
	Empty                      bool
}

// Keys returns the keys of q's time range and retention.
func (q *RecordQuery) Keys() RecordKeys {
	var k RecordKeys
	var ok bool
	k.Lo, k.Hi, ok = q.Start.Keys()
	k.NotBefore, k.EndedBy = ZeroKey, math.MaxInt64
	if ok && !q.NotBefore.IsZero() {
		// Retention: a record is kept unless it ended before NotBefore.
		k.NotBefore, ok = lowerKey(q.NotBefore, true)
	}
	if ok && !q.EndedBy.IsZero() {
		k.EndedBy, ok = upperKey(q.EndedBy, true)
	}
	k.Empty = !ok || k.NotBefore > k.EndedBy
	return k
}

// PageStart returns the keyset position a page of q starts after: the
// cursor's, or the start of the range (lo, "") when that is later. Ids are
// never empty, so (lo, "") is before every record at lo.
func (q *RecordQuery) PageStart(k RecordKeys) (start int64, afterID string, err error) {
	if q.After != nil {
		s, err := TimeKey(q.After.StartDateTime)
		if err != nil {
			return 0, "", err
		} else if s >= k.Lo {
			return s, q.After.ID, nil
		}
	}
	return k.Lo, "", nil
}

// ListArgs validates q and returns the arguments of a store's statement
// that reads a page of its records, in this order: the tenant, the
// participant's id when q names one, the keyset position the page starts
// after (PageStart), the range's last start key, the retention's end key
// and the not-yet-there end key (RecordKeys), and how many rows to read: the page size and one more, to
// learn whether more follow (RecordPage.Cut). none is true when no stored
// time matches: the page is empty.
func (q *RecordQuery) ListArgs() (args []any, none bool, err error) {
	if err := q.Validate(); err != nil {
		return nil, false, err
	}
	k := q.Keys()
	afterStart, afterID, err := q.PageStart(k)
	if err != nil || k.Empty {
		return nil, k.Empty, err
	}
	fetch := int64(q.Limit)
	if fetch < math.MaxInt64 {
		fetch++
	}
	return append(q.args(6), afterStart, afterID, k.Hi, k.NotBefore, k.EndedBy, fetch), false, nil
}

// CountArgs is ListArgs for a statement that counts q's records: the
// tenant, the participant's id when q names one, the range's first and
// last start keys, and the retention's and the not-yet-there end keys.
func (q *RecordQuery) CountArgs() (args []any, none bool, err error) {
	if err := q.ValidateCount(); err != nil {
		return nil, false, err
	}
	k := q.Keys()
	if k.Empty {
		return nil, true, nil
	}
	return append(q.args(4), k.Lo, k.Hi, k.NotBefore, k.EndedBy), false, nil
}

// args is the tenant and the participant when q names one, with room for
// n arguments more: one allocation, as a variadic call's would be.
func (q *RecordQuery) args(n int) []any {
	args := make([]any, 1, 2+n)
	args[0] = q.Tenant
	if q.ParticipantID != "" {
		args = append(args, q.ParticipantID)
	}
	return args
}

// Cut keeps the first limit records of a page read with one row more
// (ListArgs), and says whether more follow.
func (p *RecordPage) Cut(limit int) {
	if len(p.Records) > limit {
		p.Records, p.More = p.Records[:limit], true
	}
}

// Cut keeps the first limit participants of a page read with one row
// more, and says whether more follow.
func (p *ParticipantPage) Cut(limit int) {
	if len(p.Participants) > limit {
		p.Participants, p.More = p.Participants[:limit], true
	}
}
