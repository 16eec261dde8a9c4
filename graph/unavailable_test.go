package graph

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callvault/callvault"
)

// TestAnUnreachableDatabaseIsA503WithRetryAfter: a store that cannot reach
// its database (a failover, a restart) answers Graph's 503 with a
// Retry-After, not a 500.
func TestAnUnreachableDatabaseIsA503WithRetryAfter(t *testing.T) {
	s := &Server{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/v1.0/communications/callRecords", nil)
	s.writeError(w, r, fmt.Errorf("postgres: get record x: %w: %w", callvault.ErrUnavailable, errors.New("conn closed")))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" ||
		!strings.Contains(w.Body.String(), `"code":"ServiceUnavailable"`) {
		t.Errorf("status %d, Retry-After %q, body %s; want 503, 5, ServiceUnavailable", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}
