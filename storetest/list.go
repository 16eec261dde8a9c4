package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// base is a time near which the list tests' records start.
var base = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// tick is the precision of Graph's DateTimeOffset values.
const tick = 100 * time.Nanosecond

func (s *suite) testListOrder(t *testing.T) {
	st := s.store(t)
	a, b := tenant(t, "a"), tenant(t, "b")
	var records []*callvault.Record
	// 240 records on 40 instants, so that the id orders most of them, put in
	// an order unlike the list order.
	for i := range 240 {
		start := base.Add(time.Duration(i%40) * time.Minute)
		records = append(records, listed(a, fmt.Sprintf("record-%03d", i*97%240), start, start.Add(time.Hour), "p"))
	}
	// Ids in byte order (not a collation's), and times in another zone, before
	// 1970 and missing: the zero time, which is before every other.
	for _, id := range []string{"record-1", "Record-999", "record-\u00e9", "record-e", "record-000-"} {
		records = append(records, listed(a, id, base.Add(time.Minute), base.Add(time.Hour)))
	}
	zone := time.FixedZone("UTC-5", -5*3600)
	records = append(records,
		listed(a, "in another zone", base.Add(90*time.Second).In(zone), base.Add(time.Hour).In(zone)),
		listed(a, "in 1969", time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC), time.Date(1969, 7, 21, 2, 0, 0, 0, time.UTC)),
		listed(a, "without a start", time.Time{}, time.Time{}),
		listed(a, "without a start either", time.Time{}, base),
	)
	records[3].Sessions = []callvault.Session{{ID: "s", Body: []byte(`{}`)}, {ID: "t", Body: []byte(`{}`)}}
	records[4].Organizer = nil
	// Tenant b has records of the same ids and times.
	for i := range 30 {
		records = append(records, listed(b, fmt.Sprintf("record-%03d", i), base.Add(time.Duration(i)*time.Minute), base.Add(time.Hour)))
	}
	putAll(t, st, records...)

	q := callvault.RecordQuery{Tenant: a}
	want := expectRecords(records, q)
	if len(want) != 249 {
		t.Fatalf("the suite expects 249 records of tenant a, not %d", len(want))
	}
	for _, limit := range []int{7, 60, 248, 249, 250, 1000} {
		q.Limit = limit
		got, pages := walkRecords(t, st, q)
		checkRecords(t, got, want, "a walk in pages of %d", limit)
		if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
			t.Errorf("a walk in pages of %d took %d pages, want %d", limit, pages, wantPages)
		}
	}
	if n := countRecords(t, st, callvault.RecordQuery{Tenant: a}); n != int64(len(want)) {
		t.Errorf("count: got %d, want %d", n, len(want))
	}

	// A cursor is a position in list order, whether or not a record is there.
	last := want[len(want)-1]
	for _, after := range []callvault.RecordKey{
		{StartDateTime: base.Add(10 * time.Minute), ID: "record-100"},
		{StartDateTime: base.Add(10*time.Minute + time.Second), ID: "a"},
		{StartDateTime: base.Add(10 * time.Minute), ID: "zzz"},
		{StartDateTime: base.Add(10 * time.Minute).In(zone), ID: "record-100"},
		{StartDateTime: time.Time{}, ID: "without a start"},
		{StartDateTime: time.Time{}, ID: "a"},
		{StartDateTime: last.StartDateTime, ID: last.ID},
		{StartDateTime: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), ID: "a"},
	} {
		checkWalk(t, st, records, callvault.RecordQuery{Tenant: a, After: &after}, 60)
	}
}

func (s *suite) testStartRange(t *testing.T) {
	st := s.store(t)
	a := tenant(t, "a")
	from, to := base, base.Add(time.Hour)
	var records []*callvault.Record
	for _, r := range []struct {
		id    string
		start time.Time
	}{
		{"a tick before from", from.Add(-tick)},
		{"a nanosecond before from", from.Add(-1)},
		{"at from", from},
		{"at from too", from},
		{"a nanosecond after from", from.Add(1)},
		{"a tick after from", from.Add(tick)},
		{"between", from.Add(30 * time.Minute)},
		{"a tick before to", to.Add(-tick)},
		{"at to", to},
		{"a tick after to", to.Add(tick)},
		{"in 1969", time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC)},
		{"in 2261", time.Date(2261, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"without a start", time.Time{}},
	} {
		end := time.Time{}
		if !r.start.IsZero() {
			end = r.start.Add(time.Minute)
		}
		records = append(records, listed(a, r.id, r.start, end))
	}
	putAll(t, st, records...)

	// Every pair of bounds, open or at a record's instant (in any zone) or
	// between two ticks, each inclusive or not; so also a range of one
	// instant, and ranges whose end is before their start.
	zone := time.FixedZone("UTC+9", 9*3600)
	bounds := []time.Time{{}, from, from.Add(-tick / 2), to.In(zone)}
	for _, f := range bounds {
		for _, u := range bounds {
			for _, fi := range []bool{false, true} {
				for _, ui := range []bool{false, true} {
					q := callvault.RecordQuery{Tenant: a, Start: callvault.TimeRange{From: f, To: u, FromInclusive: fi, ToInclusive: ui}}
					checkWalk(t, st, records, q, 2)
				}
			}
		}
	}
	if n := countRecords(t, st, callvault.RecordQuery{Tenant: a, Start: callvault.TimeRange{From: from, To: from, FromInclusive: true, ToInclusive: true}}); n != 2 {
		t.Errorf("count of a range of one instant: got %d, want 2", n)
	}

	// Bounds that no stored time can equal: before 1678 or after 2262.
	long := []time.Time{time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, b := range long {
		for _, inclusive := range []bool{false, true} {
			checkWalk(t, st, records, callvault.RecordQuery{Tenant: a, Start: callvault.TimeRange{From: b, FromInclusive: inclusive}}, 5)
			checkWalk(t, st, records, callvault.RecordQuery{Tenant: a, Start: callvault.TimeRange{To: b, ToInclusive: inclusive}}, 5)
		}
	}

	// The range and the cursor together: the later of the two starts the page.
	inRange := callvault.TimeRange{From: from, To: to, FromInclusive: true, ToInclusive: true}
	for _, after := range []callvault.RecordKey{
		{StartDateTime: from.Add(-time.Hour), ID: "zzz"},
		{StartDateTime: time.Time{}, ID: "without a start"},
		{StartDateTime: from, ID: "at from"},
		{StartDateTime: to, ID: "at to"},
		{StartDateTime: to.Add(time.Hour), ID: "a"},
	} {
		checkWalk(t, st, records, callvault.RecordQuery{Tenant: a, Start: inRange, After: &after}, 2)
	}
}

func (s *suite) testParticipantFilter(t *testing.T) {
	st := s.store(t)
	a, b := tenant(t, "a"), tenant(t, "b")
	var records []*callvault.Record
	for i := range 60 {
		// x is in three records of every six: once, twice or three times.
		ps := [][]string{{"x"}, {"y"}, {"x", "y", "x"}, {"X"}, {"y", "z"}, {"z", "x", "x", "x"}}[i%6]
		start := base.Add(time.Duration(i%20) * time.Minute)
		records = append(records, listed(a, fmt.Sprintf("record-%02d", 59-i), start, start.Add(time.Hour), ps...))
	}
	// Tenant b has records of the same participants, and one of its own.
	for i := range 10 {
		start := base.Add(time.Duration(i) * time.Minute)
		records = append(records, listed(b, fmt.Sprintf("record-%02d", i), start, start.Add(time.Hour), "x", "only-b"))
	}
	putAll(t, st, records...)

	for _, q := range []callvault.RecordQuery{
		{Tenant: a, ParticipantID: "x"},
		{Tenant: a, ParticipantID: "y"},
		{Tenant: a, ParticipantID: "X"},
		{Tenant: a, ParticipantID: "x", Start: callvault.TimeRange{From: base.Add(5 * time.Minute), To: base.Add(12 * time.Minute), FromInclusive: true}},
		{Tenant: a, ParticipantID: "x", Start: callvault.TimeRange{From: base.Add(5 * time.Minute), To: base.Add(12 * time.Minute), ToInclusive: true}},
		{Tenant: a, ParticipantID: "z", NotBefore: base.Add(time.Hour + 10*time.Minute)},
		{Tenant: a, ParticipantID: "x", After: &callvault.RecordKey{StartDateTime: base.Add(7 * time.Minute), ID: "record-40"}},
		{Tenant: a, ParticipantID: "only-b"},
		{Tenant: a, ParticipantID: "nobody"},
		{Tenant: b, ParticipantID: "x"},
	} {
		for _, limit := range []int{1, 3, 1000} {
			checkWalk(t, st, records, q, limit)
		}
	}
	if n := countRecords(t, st, callvault.RecordQuery{Tenant: a, ParticipantID: "x"}); n != 30 {
		t.Errorf("count of participant x: got %d, want 30", n)
	}
}

func (s *suite) testRetention(t *testing.T) {
	st := s.store(t)
	a := tenant(t, "a")
	notBefore := base.Add(24 * time.Hour)
	var records []*callvault.Record
	for _, r := range []struct {
		id         string
		start, end time.Time
	}{
		{"ended a tick before", base, notBefore.Add(-tick)},
		{"ended a nanosecond before", base.Add(time.Minute), notBefore.Add(-1)},
		{"ended at", base.Add(2 * time.Minute), notBefore},
		{"ended a tick after", base.Add(3 * time.Minute), notBefore.Add(tick)},
		{"started long before, ended after", base.Add(-20 * 24 * time.Hour), notBefore.Add(time.Hour)},
		{"started and ended long before", base.Add(-20 * 24 * time.Hour), base.Add(-19 * 24 * time.Hour)},
		{"started after", notBefore.Add(time.Hour), notBefore.Add(2 * time.Hour)},
		{"without an end", base.Add(4 * time.Minute), time.Time{}},
		{"without a start", time.Time{}, notBefore.Add(time.Minute)},
		{"in 1969", time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC), time.Date(1969, 7, 21, 2, 0, 0, 0, time.UTC)},
	} {
		records = append(records, listed(a, r.id, r.start, r.end, "p", r.id))
	}
	putAll(t, st, records...)

	zone := time.FixedZone("UTC-8", -8*3600)
	for _, q := range []callvault.RecordQuery{
		{Tenant: a},
		{Tenant: a, NotBefore: notBefore},
		{Tenant: a, NotBefore: notBefore.In(zone)},
		{Tenant: a, NotBefore: notBefore.Add(-tick / 2)},
		{Tenant: a, NotBefore: notBefore, Start: callvault.TimeRange{To: base.Add(3 * time.Minute)}},
		{Tenant: a, NotBefore: notBefore, ParticipantID: "p"},
		{Tenant: a, NotBefore: notBefore, ParticipantID: "ended a tick before"},
		{Tenant: a, NotBefore: notBefore, ParticipantID: "ended at"},
		{Tenant: a, NotBefore: notBefore, After: &callvault.RecordKey{StartDateTime: base.Add(2 * time.Minute), ID: "ended at"}},
		{Tenant: a, NotBefore: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Tenant: a, NotBefore: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		// Not there yet: records that ended after EndedBy are left out.
		{Tenant: a, EndedBy: notBefore},
		{Tenant: a, EndedBy: notBefore.In(zone)},
		{Tenant: a, EndedBy: notBefore.Add(-tick / 2)},
		{Tenant: a, EndedBy: notBefore, NotBefore: notBefore},
		{Tenant: a, EndedBy: notBefore.Add(-tick), NotBefore: notBefore},
		{Tenant: a, EndedBy: notBefore, ParticipantID: "p"},
		{Tenant: a, EndedBy: notBefore, ParticipantID: "ended a tick after"},
		{Tenant: a, EndedBy: notBefore, Start: callvault.TimeRange{From: base, FromInclusive: true}},
		{Tenant: a, EndedBy: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		for _, limit := range []int{1, 3, 100} {
			checkWalk(t, st, records, q, limit)
		}
	}
	if n := countRecords(t, st, callvault.RecordQuery{Tenant: a, NotBefore: notBefore}); n != 5 {
		t.Errorf("count of records not ended before %v: got %d, want 5", notBefore, n)
	}
}

// testReplaceSeenEverywhere replaces a record with one of other times,
// participants and organizer, and looks at it through every query.
func (s *suite) testReplaceSeenEverywhere(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	a := tenant(t, "a")
	other := listed(a, "other", base.Add(time.Hour), base.Add(2*time.Hour), "c")
	v1 := listed(a, "moving", base, base.Add(30*time.Minute), "a", "b", "c")
	v1.Organizer = []byte(`{"version":1}`)
	v2 := listed(a, "moving", base.Add(2*time.Hour), base.Add(3*time.Hour), "c", "d")
	v2.Version, v2.Body, v2.Organizer = 2, []byte(`{"version":2}`), nil
	v3 := listed(a, "moving", base.Add(-time.Hour), base.Add(5*time.Hour))
	v3.Version, v3.Body, v3.Organizer = 2, []byte(`{"version":3}`), []byte(`{"version":3}`)

	check := func(step string, moving *callvault.Record) {
		t.Helper()
		records := []*callvault.Record{other, moving}
		if !checkHeader(t, get(t, st, a, "moving"), moving) {
			t.Errorf("%s: the header is not the record's", step)
		}
		for _, q := range []callvault.RecordQuery{
			{Tenant: a},
			{Tenant: a, ParticipantID: "a"},
			{Tenant: a, ParticipantID: "b"},
			{Tenant: a, ParticipantID: "c"},
			{Tenant: a, ParticipantID: "d"},
			{Tenant: a, ParticipantID: "c", Start: callvault.TimeRange{To: base.Add(time.Hour), ToInclusive: true}},
			{Tenant: a, ParticipantID: "c", Start: callvault.TimeRange{From: base.Add(90 * time.Minute)}},
			{Tenant: a, NotBefore: base.Add(time.Hour)},
			{Tenant: a, ParticipantID: "c", NotBefore: base.Add(150 * time.Minute)},
		} {
			checkWalk(t, st, records, q, 1)
		}
		page, err := st.ListParticipants(ctx, callvault.ParticipantQuery{Tenant: a, RecordID: "moving", Limit: 10})
		if err != nil {
			t.Fatalf("%s: list participants: %v", step, err)
		}
		checkParticipants(t, page.Participants, moving.Participants, 0)
		if page.More {
			t.Errorf("%s: More is true on the only page of participants", step)
		}
		for _, id := range []string{"a", "b", "c", "d"} {
			i := slices.IndexFunc(moving.Participants, func(p callvault.Participant) bool { return p.ID == id })
			row, err := st.GetParticipant(ctx, a, "moving", id)
			if i < 0 {
				wantCode(t, err, callvault.ENOTFOUND, "%s: get participant %s", step, id)
				continue
			}
			if err != nil {
				t.Errorf("%s: get participant %s: %v", step, id, err)
				continue
			}
			checkParticipants(t, []callvault.ParticipantRow{*row}, moving.Participants[i:i+1], int64(i))
		}
	}

	putAll(t, st, other, v1)
	check("the first version", v1)
	if outcome := put(t, st, v2); outcome != callvault.Replaced {
		t.Fatalf("put of a higher version: got %v, want %v", outcome, callvault.Replaced)
	}
	check("a higher version", v2)
	if outcome := put(t, st, v1); outcome != callvault.Stale {
		t.Fatalf("put of the lower version again: got %v, want %v", outcome, callvault.Stale)
	}
	check("a stale put", v2)
	if outcome := put(t, st, v3); outcome != callvault.Replaced {
		t.Fatalf("put of an equal version: got %v, want %v", outcome, callvault.Replaced)
	}
	check("an equal version without participants", v3)
}

// listed returns a small record for the list tests; every body names it.
func listed(tenant, id string, start, end time.Time, participants ...string) *callvault.Record {
	r := &callvault.Record{
		Tenant:        tenant,
		ID:            id,
		Version:       1,
		StartDateTime: start,
		EndDateTime:   end,
		Body:          fmt.Appendf(nil, `{"id":%q,"tenant":%q}`, id, tenant),
		Organizer:     fmt.Appendf(nil, `{"user":{"id":"organizer of %s"}}`, id),
	}
	for i, p := range participants {
		r.Participants = append(r.Participants, callvault.Participant{ID: p, Body: fmt.Appendf(nil, `{"id":%q,"record":%q,"at":%d}`, p, id, i+1)})
	}
	return r
}

func putAll(t *testing.T, st callvault.Store, records ...*callvault.Record) {
	t.Helper()
	for _, r := range records {
		put(t, st, r)
	}
}

// expectRecords returns the records that q matches after its cursor, in
// list order: what a walk of q lists. records holds each record once.
func expectRecords(records []*callvault.Record, q callvault.RecordQuery) []*callvault.Record {
	var want []*callvault.Record
	for _, r := range records {
		switch {
		case r.Tenant != q.Tenant, !q.Start.Contains(r.StartDateTime):
		case !q.NotBefore.IsZero() && r.EndDateTime.Before(q.NotBefore):
		case !q.EndedBy.IsZero() && r.EndDateTime.After(q.EndedBy):
		case q.ParticipantID != "" && !slices.ContainsFunc(r.Participants, func(p callvault.Participant) bool { return p.ID == q.ParticipantID }):
		case q.After != nil && compareKeys(r.StartDateTime, r.ID, q.After.StartDateTime, q.After.ID) <= 0:
		default:
			want = append(want, r)
		}
	}
	slices.SortFunc(want, func(x, y *callvault.Record) int { return compareKeys(x.StartDateTime, x.ID, y.StartDateTime, y.ID) })
	return want
}

// compareKeys compares two positions in list order: by start time, the
// zero time first, then by id, byte by byte.
func compareKeys(xStart time.Time, xID string, yStart time.Time, yID string) int {
	if c := xStart.Compare(yStart); c != 0 {
		return c
	}
	return strings.Compare(xID, yID)
}

// checkWalk walks q in pages of limit from its cursor and counts it without
// one, and checks both against what the records say they should be.
func checkWalk(t *testing.T, st callvault.Store, records []*callvault.Record, q callvault.RecordQuery, limit int) {
	t.Helper()
	q.Limit = limit
	got, _ := walkRecords(t, st, q)
	checkRecords(t, got, expectRecords(records, q), "a walk of %s", describe(q))

	q.After, q.Limit = nil, 0 // neither counts
	if n, want := countRecords(t, st, q), len(expectRecords(records, q)); n != int64(want) {
		t.Errorf("count of %s: got %d, want %d", describe(q), n, want)
	}
}

// walkRecords lists the pages of q from its cursor to the last, and returns
// their records and how many pages there were. Every page but the last must
// be full and say More.
func walkRecords(t *testing.T, st callvault.Store, q callvault.RecordQuery) ([]callvault.RecordHeader, int) {
	t.Helper()
	var all []callvault.RecordHeader
	for pages := 1; ; pages++ {
		page, err := st.ListRecords(t.Context(), q)
		if err != nil {
			t.Fatalf("list records of %s: %v", describe(q), err)
		}
		if len(page.Records) > q.Limit || (page.More && len(page.Records) < q.Limit) {
			t.Fatalf("list records of %s: page %d has %d records and More %v", describe(q), pages, len(page.Records), page.More)
		}
		all = append(all, page.Records...)
		if !page.More {
			return all, pages
		}
		last := page.Records[len(page.Records)-1]
		q.After = &callvault.RecordKey{StartDateTime: last.StartDateTime, ID: last.ID}
	}
}

// checkRecords compares the headers of a walk with the records it should
// have listed, and reports whether they agree.
func checkRecords(t *testing.T, got []callvault.RecordHeader, want []*callvault.Record, format string, args ...any) bool {
	t.Helper()
	for i := range max(len(got), len(want)) {
		if i >= len(got) || i >= len(want) || got[i].ID != want[i].ID {
			at := func(n int, id func(int) string) string {
				if i < n {
					return id(i)
				}
				return "the end"
			}
			t.Errorf("%s: got %d records, want %d; record %d is %s, want %s", fmt.Sprintf(format, args...), len(got), len(want), i+1,
				at(len(got), func(i int) string { return fmt.Sprintf("%q", got[i].ID) }),
				at(len(want), func(i int) string { return fmt.Sprintf("%q", want[i].ID) }))
			return false
		}
		if !checkHeader(t, &got[i], want[i]) {
			t.Errorf("%s: record %d differs", fmt.Sprintf(format, args...), i+1)
			return false
		}
	}
	return true
}

func countRecords(t *testing.T, st callvault.Store, q callvault.RecordQuery) int64 {
	t.Helper()
	n, err := st.CountRecords(t.Context(), q)
	if err != nil {
		t.Fatalf("count records of %s: %v", describe(q), err)
	}
	return n
}

// describe says what a record query asks for, for failure messages.
func describe(q callvault.RecordQuery) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tenant %q", q.Tenant)
	if r := q.Start; !r.From.IsZero() || !r.To.IsZero() {
		b.WriteString(", start ")
		b.WriteString(map[bool]string{false: "(", true: "["}[r.FromInclusive])
		b.WriteString(describeTime(r.From) + ", " + describeTime(r.To))
		b.WriteString(map[bool]string{false: ")", true: "]"}[r.ToInclusive])
	}
	if q.ParticipantID != "" {
		fmt.Fprintf(&b, ", participant %q", q.ParticipantID)
	}
	if !q.EndedBy.IsZero() {
		fmt.Fprintf(&b, ", ended by %s", describeTime(q.EndedBy))
	}
	if !q.NotBefore.IsZero() {
		fmt.Fprintf(&b, ", not before %s", describeTime(q.NotBefore))
	}
	if q.After != nil {
		fmt.Fprintf(&b, ", after (%s, %q)", describeTime(q.After.StartDateTime), q.After.ID)
	}
	fmt.Fprintf(&b, ", limit %d", q.Limit)
	return b.String()
}

func describeTime(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.Format(time.RFC3339Nano)
}
