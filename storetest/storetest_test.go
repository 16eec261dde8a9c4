package storetest_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/storetest"
)

// TestSuite runs the suite against a store kept in a map: the plainest
// correct store there is, so that a failure here is a fault of the suite.
func TestSuite(t *testing.T) {
	storetest.Run(t, func(*testing.T) callvault.Store { return &mapStore{records: map[[2]string]*callvault.Record{}} })
}

type mapStore struct {
	mu      sync.RWMutex
	records map[[2]string]*callvault.Record // by tenant and id
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
	c.Sessions = slices.Clone(r.Sessions)
	for i := range c.Sessions {
		c.Sessions[i].Body = slices.Clone(c.Sessions[i].Body)
		c.Sessions[i].Segments = slices.Clone(c.Sessions[i].Segments)
		for j := range c.Sessions[i].Segments {
			c.Sessions[i].Segments[j].Body = slices.Clone(c.Sessions[i].Segments[j].Body)
		}
	}
	s.records[key] = &c
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
	return &callvault.RecordHeader{ID: r.ID, Version: r.Version, StartDateTime: r.StartDateTime, Body: r.Body, Sessions: len(r.Sessions)}, nil
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
	page := &callvault.SessionPage{}
	for seq := q.After + 1; seq <= int64(len(r.Sessions)); seq++ {
		if len(page.Sessions) == q.Limit {
			page.More = true
			break
		}
		ses := r.Sessions[seq-1]
		row := callvault.SessionRow{Seq: seq, ID: ses.ID, Body: ses.Body}
		if q.Segments {
			row.Segments = ses.Segments
		}
		page.Sessions = append(page.Sessions, row)
	}
	return page, nil
}

func (s *mapStore) Close() error { return nil }
