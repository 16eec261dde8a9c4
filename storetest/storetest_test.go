package storetest_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/storetest"
)

// TestSuite runs the suite against a store kept in a map: the plainest
// correct store there is, so that a failure here is a fault of the suite.
func TestSuite(t *testing.T) {
	storetest.Run(t, func(*testing.T) callvault.Store {
		return &mapStore{records: map[[2]string]*callvault.Record{}, reports: map[[3]string]callvault.ReportRow{}}
	})
}

type mapStore struct {
	mu      sync.RWMutex
	records map[[2]string]*callvault.Record   // by tenant and id
	stamps  map[[2]string]int64               // the records', by tenant and id
	reports map[[3]string]callvault.ReportRow // by tenant, kind and key
}

func (s *mapStore) PutRecord(_ context.Context, r *callvault.Record) (callvault.PutOutcome, error) {
	if r == nil || r.Tenant == "" || r.ID == "" {
		return 0, callvault.Errorf(callvault.EINVALID, "A tenant and id are required.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := [2]string{r.Tenant, r.ID}
	outcome := callvault.Inserted
	if old, ok := s.records[key]; ok {
		if old.Version > r.Version {
			return callvault.Stale, nil
		}
		outcome = callvault.Replaced
	}
	// A deep copy, as a real store keeps none of the caller's memory.
	c := *r
	c.Body = slices.Clone(r.Body)
	c.Organizer = slices.Clone(r.Organizer)
	c.Participants = slices.Clone(r.Participants)
	for i := range c.Participants {
		c.Participants[i].Body = slices.Clone(c.Participants[i].Body)
	}
	c.Sessions = slices.Clone(r.Sessions)
	for i := range c.Sessions {
		c.Sessions[i].Body = slices.Clone(c.Sessions[i].Body)
		c.Sessions[i].Render = slices.Clone(c.Sessions[i].Render)
		c.Sessions[i].Segments = slices.Clone(c.Sessions[i].Segments)
		for j := range c.Sessions[i].Segments {
			c.Sessions[i].Segments[j].Body = slices.Clone(c.Sessions[i].Segments[j].Body)
			c.Sessions[i].Segments[j].Render = slices.Clone(c.Sessions[i].Segments[j].Render)
		}
	}
	s.records[key] = &c
	if s.stamps == nil {
		s.stamps = map[[2]string]int64{}
	}
	s.stamps[key] = callvault.NewStamp()
	return outcome, nil
}

func (s *mapStore) GetRecord(_ context.Context, tenant, id string) (*callvault.RecordHeader, error) {
	if tenant == "" || id == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "A tenant and id are required.")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.records[[2]string{tenant, id}]
	if !ok {
		return nil, callvault.Errorf(callvault.ENOTFOUND, "Call record %s was not found.", id)
	}
	return header(r), nil
}

func header(r *callvault.Record) *callvault.RecordHeader {
	return &callvault.RecordHeader{ID: r.ID, Version: r.Version, StartDateTime: r.StartDateTime, EndDateTime: r.EndDateTime,
		Body: r.Body, Organizer: r.Organizer, Sessions: len(r.Sessions), Participants: len(r.Participants)}
}

// matching returns the records q matches, ignoring its cursor and limit, in
// list order.
func (s *mapStore) matching(q callvault.RecordQuery) []*callvault.Record {
	var rs []*callvault.Record
	for _, r := range s.records {
		if r.Tenant != q.Tenant || !q.Start.Contains(r.StartDateTime) ||
			(!q.NotBefore.IsZero() && r.EndDateTime.Before(q.NotBefore)) ||
			(!q.EndedBy.IsZero() && r.EndDateTime.After(q.EndedBy)) ||
			(q.ParticipantID != "" && !slices.ContainsFunc(r.Participants, func(p callvault.Participant) bool { return p.ID == q.ParticipantID })) {
			continue
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(x, y *callvault.Record) int {
		if c := x.StartDateTime.Compare(y.StartDateTime); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	return rs
}

func (s *mapStore) ListRecords(_ context.Context, q callvault.RecordQuery) (*callvault.RecordPage, error) {
	if q.Tenant == "" || q.Limit < 1 || (q.After != nil && q.After.ID == "") {
		return nil, callvault.Errorf(callvault.EINVALID, "Bad query.")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	page := &callvault.RecordPage{}
	for _, r := range s.matching(q) {
		if q.After != nil {
			if c := r.StartDateTime.Compare(q.After.StartDateTime); c < 0 || (c == 0 && r.ID <= q.After.ID) {
				continue
			}
		}
		if len(page.Records) == q.Limit {
			page.More = true
			break
		}
		page.Records = append(page.Records, *header(r))
	}
	return page, nil
}

func (s *mapStore) CountRecords(_ context.Context, q callvault.RecordQuery) (int64, error) {
	if q.Tenant == "" {
		return 0, callvault.Errorf(callvault.EINVALID, "A tenant is required.")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return int64(len(s.matching(q))), nil
}

// record returns a record or an ENOTFOUND error; the caller holds the lock.
func (s *mapStore) record(tenant, id string) (*callvault.Record, error) {
	r, ok := s.records[[2]string{tenant, id}]
	if !ok {
		return nil, callvault.Errorf(callvault.ENOTFOUND, "Call record %s was not found.", id)
	}
	return r, nil
}

func (s *mapStore) GetSession(_ context.Context, tenant, recordID, sessionID string, segments bool) (*callvault.SessionRow, error) {
	if tenant == "" || recordID == "" || sessionID == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "Bad query.")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.record(tenant, recordID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(r.Sessions, func(ses callvault.Session) bool { return ses.ID == sessionID })
	if i < 0 {
		return nil, callvault.Errorf(callvault.ENOTFOUND, "Session %s was not found.", sessionID)
	}
	row := &callvault.SessionRow{Seq: int64(i + 1), ID: sessionID, Body: r.Sessions[i].Body}
	if segments {
		row.Segments = r.Sessions[i].Segments
	}
	return row, nil
}

func (s *mapStore) ListParticipants(_ context.Context, q callvault.ParticipantQuery) (*callvault.ParticipantPage, error) {
	if q.Tenant == "" || q.RecordID == "" || q.Limit < 1 || q.After < 0 {
		return nil, callvault.Errorf(callvault.EINVALID, "Bad query.")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.record(q.Tenant, q.RecordID)
	if err != nil {
		return nil, err
	}
	page := &callvault.ParticipantPage{}
	for seq := q.After + 1; seq <= int64(len(r.Participants)); seq++ {
		if len(page.Participants) == q.Limit {
			page.More = true
			break
		}
		p := r.Participants[seq-1]
		page.Participants = append(page.Participants, callvault.ParticipantRow{Seq: seq, ID: p.ID, Body: p.Body})
	}
	return page, nil
}

func (s *mapStore) GetParticipant(_ context.Context, tenant, recordID, participantID string) (*callvault.ParticipantRow, error) {
	if tenant == "" || recordID == "" || participantID == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "Bad query.")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.record(tenant, recordID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(r.Participants, func(p callvault.Participant) bool { return p.ID == participantID })
	if i < 0 {
		return nil, callvault.Errorf(callvault.ENOTFOUND, "Participant %s was not found.", participantID)
	}
	return &callvault.ParticipantRow{Seq: int64(i + 1), ID: participantID, Body: r.Participants[i].Body}, nil
}

func (s *mapStore) PutReportRows(_ context.Context, tenant, kind string, rows []callvault.ReportRow) (int, error) {
	if tenant == "" || kind == "" || slices.ContainsFunc(rows, func(r callvault.ReportRow) bool { return r.Key == "" }) {
		return 0, callvault.Errorf(callvault.EINVALID, "Bad rows.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	added := 0
	for _, r := range rows {
		key := [3]string{tenant, kind, r.Key}
		if _, ok := s.reports[key]; !ok {
			added++
		}
		r.Body = slices.Clone(r.Body)
		s.reports[key] = r
	}
	return added, nil
}

func (s *mapStore) ListReportRows(_ context.Context, q callvault.ReportQuery) (*callvault.ReportPage, error) {
	if q.Tenant == "" || q.Kind == "" || q.Limit < 1 || q.Offset < 0 {
		return nil, callvault.Errorf(callvault.EINVALID, "Bad query.")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var rows []callvault.ReportRow
	for key, r := range s.reports {
		if key[0] == q.Tenant && key[1] == q.Kind && q.Range.Contains(r.Time) {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, func(x, y callvault.ReportRow) int {
		if c := x.Time.Compare(y.Time); c != 0 {
			return c
		}
		return strings.Compare(x.Key, y.Key)
	})
	page := &callvault.ReportPage{Total: int64(len(rows))}
	for _, r := range rows[min(q.Offset, len(rows)):min(q.Offset+min(q.Limit, len(rows)), len(rows))] {
		page.Rows = append(page.Rows, r.Body)
	}
	page.More = q.Offset+len(page.Rows) < len(rows)
	return page, nil
}

func (s *mapStore) ListSessions(_ context.Context, q callvault.SessionQuery) (*callvault.SessionPage, error) {
	if q.Tenant == "" || q.RecordID == "" || q.Limit < 1 || q.After < 0 {
		return nil, callvault.Errorf(callvault.EINVALID, "Bad query.")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.records[[2]string{q.Tenant, q.RecordID}]
	if !ok {
		return nil, callvault.Errorf(callvault.ENOTFOUND, "Call record %s was not found.", q.RecordID)
	}
	page := &callvault.SessionPage{Stamp: s.stamps[[2]string{q.Tenant, q.RecordID}]}
	if q.Known != 0 && q.Known == page.Stamp {
		page.Unchanged = true
		return page, nil
	}
	for seq := q.After + 1; seq <= int64(len(r.Sessions)); seq++ {
		if len(page.Sessions) == q.Limit {
			page.More = true
			break
		}
		ses := r.Sessions[seq-1]
		row := callvault.SessionRow{Seq: seq, ID: ses.ID, Body: ses.Body, Render: ses.Render}
		if q.Segments {
			row.Segments = ses.Segments
		}
		page.Sessions = append(page.Sessions, row)
	}
	return page, nil
}

func (s *mapStore) Close() error { return nil }
