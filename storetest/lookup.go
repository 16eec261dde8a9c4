package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

func (s *suite) testGetSession(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	a, b := tenant(t, "a"), tenant(t, "b")
	r := recordSpec{tenant: a, id: "sessions", version: 1, sessions: 6, segments: func(seq int) int { return []int{0, 1, 3}[seq%3] }}.record()
	// An id the record has twice is got at its first position.
	r.Sessions = append(r.Sessions, callvault.Session{ID: r.Sessions[1].ID, Body: []byte(`{"twice":true}`)})
	put(t, st, r)
	put(t, st, recordSpec{tenant: a, id: "neighbour", version: 1, sessions: 2, salt: "neighbour", segments: one}.record())
	put(t, st, recordSpec{tenant: b, id: "sessions", version: 1, sessions: 8, salt: "b", segments: one}.record())

	for i, ses := range r.Sessions[:6] {
		for _, segments := range []bool{false, true} {
			row, err := st.GetSession(ctx, a, "sessions", ses.ID, segments)
			if err != nil {
				t.Errorf("get session %s with segments %v: %v", ses.ID, segments, err)
				continue
			}
			if !checkPage(t, &callvault.SessionPage{Sessions: []callvault.SessionRow{*row}}, r.Sessions[i:i+1], int64(i), segments) {
				t.Errorf("get session %s with segments %v: not the session put", ses.ID, segments)
			}
		}
	}

	for _, tt := range []struct {
		name                    string
		tenant, record, session string
	}{
		{"an unknown record", a, "unknown", r.Sessions[0].ID},
		{"an unknown session", a, "sessions", "unknown"},
		{"a session id in another case", a, "sessions", "Session-1-"},
		{"a session of another record", a, "sessions", "session-1-neighbour"},
		{"another tenant's session of a shared record id", a, "sessions", "session-7-b"},
		{"a session of another tenant's record", b, "neighbour", "session-1-neighbour"},
	} {
		for _, segments := range []bool{false, true} {
			_, err := st.GetSession(ctx, tt.tenant, tt.record, tt.session, segments)
			wantCode(t, err, callvault.ENOTFOUND, "get %s with segments %v", tt.name, segments)
		}
	}
}

func (s *suite) testListParticipants(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	a, b := tenant(t, "a"), tenant(t, "b")
	r := recordSpec{tenant: a, id: "crowd", version: 1, sessions: 1}.record()
	r.Participants = make([]callvault.Participant, 1000)
	for i := range r.Participants {
		id := fmt.Sprintf("participant-%04d", i+1)
		r.Participants[i] = callvault.Participant{ID: id, Body: fmt.Appendf(nil, `{"id":%q,"name":"Zoë ☎"}`, id)}
	}
	put(t, st, r)
	empty := recordSpec{tenant: a, id: "empty", version: 1}.record()
	empty.Participants = nil
	put(t, st, empty)

	for _, limit := range []int{130, 100, 999, 1000, 1001} {
		var after int64
		pages := 0
		for {
			page := listParticipants(t, st, callvault.ParticipantQuery{Tenant: a, RecordID: "crowd", After: after, Limit: limit})
			pages++
			want := r.Participants[after:min(int(after)+limit, len(r.Participants))]
			if !checkParticipants(t, page.Participants, want, after) {
				t.Fatalf("pages of %d: page %d is wrong", limit, pages)
			}
			if page.More != (int(after)+len(want) < len(r.Participants)) {
				t.Fatalf("pages of %d: page %d says More %v after %d of %d", limit, pages, page.More, int(after)+len(want), len(r.Participants))
			}
			if !page.More {
				break
			}
			after = page.Participants[len(page.Participants)-1].Seq
		}
		if want := (len(r.Participants) + limit - 1) / limit; pages != want {
			t.Errorf("pages of %d: walked %d pages, want %d", limit, pages, want)
		}
	}

	page := listParticipants(t, st, callvault.ParticipantQuery{Tenant: a, RecordID: "crowd", After: 500, Limit: 130})
	checkParticipants(t, page.Participants, r.Participants[500:630], 500)
	for _, after := range []int64{1000, 1001, 1 << 40} {
		page := listParticipants(t, st, callvault.ParticipantQuery{Tenant: a, RecordID: "crowd", After: after, Limit: 130})
		if len(page.Participants) != 0 || page.More {
			t.Errorf("after %d: got %d participants, More %v; want an empty last page", after, len(page.Participants), page.More)
		}
	}
	page = listParticipants(t, st, callvault.ParticipantQuery{Tenant: a, RecordID: "empty", Limit: 130})
	if len(page.Participants) != 0 || page.More {
		t.Errorf("a record without participants: got %d participants, More %v; want an empty last page", len(page.Participants), page.More)
	}

	_, err := st.ListParticipants(ctx, callvault.ParticipantQuery{Tenant: a, RecordID: "unknown", Limit: 130})
	wantCode(t, err, callvault.ENOTFOUND, "list participants of an unknown record")
	_, err = st.ListParticipants(ctx, callvault.ParticipantQuery{Tenant: b, RecordID: "crowd", Limit: 130})
	wantCode(t, err, callvault.ENOTFOUND, "list participants of another tenant's record")
	_, err = st.ListParticipants(ctx, callvault.ParticipantQuery{Tenant: b, RecordID: "crowd", After: 1000, Limit: 130})
	wantCode(t, err, callvault.ENOTFOUND, "list participants of another tenant's record past its end")
}

func (s *suite) testGetParticipant(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	a, b := tenant(t, "a"), tenant(t, "b")
	r := listed(a, "call", base, base.Add(time.Hour), "x", "y", "x", "X", "\u00e9")
	put(t, st, r)
	put(t, st, listed(a, "neighbour", base, base.Add(time.Hour), "z"))
	put(t, st, listed(b, "call", base, base.Add(time.Hour), "w"))

	// x is got at its first position.
	for _, seq := range []int64{1, 2, 4, 5} {
		p := r.Participants[seq-1]
		row, err := st.GetParticipant(ctx, a, "call", p.ID)
		if err != nil {
			t.Errorf("get participant %s: %v", p.ID, err)
			continue
		}
		checkParticipants(t, []callvault.ParticipantRow{*row}, r.Participants[seq-1:seq], seq-1)
	}

	for _, tt := range []struct {
		name                        string
		tenant, record, participant string
	}{
		{"an unknown record", a, "unknown", "x"},
		{"an unknown participant", a, "call", "unknown"},
		{"a participant id with a trailing space", a, "call", "x "},
		{"a participant of another record", a, "call", "z"},
		{"another tenant's participant of a shared record id", a, "call", "w"},
		{"a participant of another tenant's record", b, "neighbour", "z"},
	} {
		_, err := st.GetParticipant(ctx, tt.tenant, tt.record, tt.participant)
		wantCode(t, err, callvault.ENOTFOUND, "get %s", tt.name)
	}
}

// testTenantQueries puts records of two tenants that share record, session
// and participant ids, and asks each query from the other side of the wall.
func (s *suite) testTenantQueries(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	a, b := tenant(t, "a"), tenant(t, "b")
	shared := listed(a, "shared", base, base.Add(time.Hour), "p", "q")
	shared.Sessions = []callvault.Session{{ID: "s-a", Body: []byte(`{"tenant":"a"}`), Segments: []callvault.Segment{{ID: "g", Body: []byte(`{}`)}}}}
	sharedB := listed(b, "shared", base.Add(time.Minute), base.Add(time.Hour), "p")
	sharedB.Sessions = []callvault.Session{{ID: "s-b", Body: []byte(`{"tenant":"b"}`)}}
	onlyA := listed(a, "only-a", base.Add(2*time.Minute), base.Add(time.Hour), "q")
	onlyA.Sessions = []callvault.Session{{ID: "s-only", Body: []byte(`{}`)}}
	records := []*callvault.Record{shared, sharedB, onlyA}
	putAll(t, st, records...)

	for _, q := range []callvault.RecordQuery{
		{Tenant: b},
		{Tenant: b, ParticipantID: "p"},
		{Tenant: b, ParticipantID: "q"},
		{Tenant: b, Start: callvault.TimeRange{From: base, FromInclusive: true}, NotBefore: base},
		{Tenant: a, ParticipantID: "p"},
		// A cursor from tenant a's walk is only a position in tenant b's.
		{Tenant: b, After: &callvault.RecordKey{StartDateTime: base, ID: "shared"}},
		{Tenant: b, After: &callvault.RecordKey{StartDateTime: base.Add(time.Minute), ID: "shared"}},
		{Tenant: tenant(t, "nobody")},
		{Tenant: tenant(t, "nobody"), ParticipantID: "p"},
	} {
		checkWalk(t, st, records, q, 1)
	}

	_, err := st.GetSession(ctx, b, "only-a", "s-only", true)
	wantCode(t, err, callvault.ENOTFOUND, "tenant b gets a session of tenant a's record")
	_, err = st.GetSession(ctx, b, "shared", "s-a", true)
	wantCode(t, err, callvault.ENOTFOUND, "tenant b gets tenant a's session of a shared record id")
	if row, err := st.GetSession(ctx, b, "shared", "s-b", true); err != nil || !bytes.Equal(row.Body, sharedB.Sessions[0].Body) || len(row.Segments) != 0 {
		t.Errorf("tenant b gets its own session: got %+v, %v", row, err)
	}

	_, err = st.ListParticipants(ctx, callvault.ParticipantQuery{Tenant: b, RecordID: "only-a", Limit: 10})
	wantCode(t, err, callvault.ENOTFOUND, "tenant b lists the participants of tenant a's record")
	checkParticipants(t, listParticipants(t, st, callvault.ParticipantQuery{Tenant: b, RecordID: "shared", Limit: 10}).Participants, sharedB.Participants, 0)
	_, err = st.GetParticipant(ctx, b, "shared", "q")
	wantCode(t, err, callvault.ENOTFOUND, "tenant b gets tenant a's participant of a shared record id")
	_, err = st.GetParticipant(ctx, b, "only-a", "q")
	wantCode(t, err, callvault.ENOTFOUND, "tenant b gets a participant of tenant a's record")
	if h := get(t, st, b, "shared"); !checkHeader(t, h, sharedB) {
		t.Error("tenant b's header of a shared record id is not its own")
	}
}

func (s *suite) testInvalidQueries(t *testing.T) {
	st := s.store(t)
	ctx := t.Context()
	a := tenant(t, "a")
	put(t, st, listed(a, "r", base, base.Add(time.Hour), "p"))

	for _, tt := range []struct {
		name string
		call func() error
	}{
		{"a record list without a tenant", func() error {
			_, err := st.ListRecords(ctx, callvault.RecordQuery{Limit: 10})
			return err
		}},
		{"a record list with a limit of zero", func() error {
			_, err := st.ListRecords(ctx, callvault.RecordQuery{Tenant: a})
			return err
		}},
		{"a record list with a negative limit", func() error {
			_, err := st.ListRecords(ctx, callvault.RecordQuery{Tenant: a, Limit: -1})
			return err
		}},
		{"a record list with a cursor without an id", func() error {
			_, err := st.ListRecords(ctx, callvault.RecordQuery{Tenant: a, Limit: 10, After: &callvault.RecordKey{StartDateTime: base}})
			return err
		}},
		{"a record count without a tenant", func() error {
			_, err := st.CountRecords(ctx, callvault.RecordQuery{ParticipantID: "p"})
			return err
		}},
		{"a session get without a tenant", func() error { _, err := st.GetSession(ctx, "", "r", "s", true); return err }},
		{"a session get without a record id", func() error { _, err := st.GetSession(ctx, a, "", "s", true); return err }},
		{"a session get without a session id", func() error { _, err := st.GetSession(ctx, a, "r", "", false); return err }},
		{"a participant list without a tenant", func() error {
			_, err := st.ListParticipants(ctx, callvault.ParticipantQuery{RecordID: "r", Limit: 10})
			return err
		}},
		{"a participant list without a record id", func() error {
			_, err := st.ListParticipants(ctx, callvault.ParticipantQuery{Tenant: a, Limit: 10})
			return err
		}},
		{"a participant list with a limit of zero", func() error {
			_, err := st.ListParticipants(ctx, callvault.ParticipantQuery{Tenant: a, RecordID: "r"})
			return err
		}},
		{"a participant list with a negative cursor", func() error {
			_, err := st.ListParticipants(ctx, callvault.ParticipantQuery{Tenant: a, RecordID: "r", After: -1, Limit: 10})
			return err
		}},
		{"a participant get without a tenant", func() error { _, err := st.GetParticipant(ctx, "", "r", "p"); return err }},
		{"a participant get without a record id", func() error { _, err := st.GetParticipant(ctx, a, "", "p"); return err }},
		{"a participant get without a participant id", func() error { _, err := st.GetParticipant(ctx, a, "r", ""); return err }},
	} {
		wantCode(t, tt.call(), callvault.EINVALID, "%s", tt.name)
	}
}

func listParticipants(t *testing.T, st callvault.Store, q callvault.ParticipantQuery) *callvault.ParticipantPage {
	t.Helper()
	page, err := st.ListParticipants(t.Context(), q)
	if err != nil {
		t.Fatalf("list participants %+v: %v", q, err)
	}
	return page
}

// checkParticipants compares rows with want, which begin after the
// participant at after, and reports whether they are equal.
func checkParticipants(t *testing.T, got []callvault.ParticipantRow, want []callvault.Participant, after int64) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d participants, want %d", len(got), len(want))
		return false
	}
	for i, row := range got {
		w := want[i]
		if seq := after + int64(i) + 1; row.Seq != seq || row.ID != w.ID || !bytes.Equal(row.Body, w.Body) {
			t.Errorf("participant %d: got %d %s %s, want %d %s %s", seq, row.Seq, row.ID, row.Body, seq, w.ID, w.Body)
			return false
		}
	}
	return true
}
