package graph_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/callvault/callvault"
)

// downStore is a store whose database does not answer.
type downStore struct{ callvault.Store }

func (downStore) Ping(context.Context) error {
	return errors.New("dial tcp 127.0.0.1:5432: connection refused")
}

func (downStore) GetRecord(context.Context, string, string) (*callvault.RecordHeader, error) {
	return nil, errors.New("dial tcp 127.0.0.1:5432: connection refused")
}

// noPingStore is a store without the Pinger capability.
type noPingStore struct{ callvault.Store }

func TestHealthAndReadinessNeedNoToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(callvault.Store) callvault.Store
		path string
	}{
		{"healthz", nil, "/healthz"},
		{"readyz", nil, "/readyz"},
		{"readyz of a store without Ping", func(s callvault.Store) callvault.Store { return noPingStore{s} }, "/readyz"},
		{"readyz of a store that is down", func(s callvault.Store) callvault.Store { return downStore{s} }, "/readyz"},
		{"healthz of a store that is down", func(s callvault.Store) callvault.Store { return downStore{s} }, "/healthz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.wrap)
			resp := f.do(t, http.MethodGet, tc.path, map[string]string{"Authorization": ""})
			golden(t, "health-"+strings.ReplaceAll(tc.name, " ", "-"), render(t, resp))
		})
	}
}
