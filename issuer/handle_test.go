package issuer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callvault/callvault/auth"
)

// An internal error is answered as Entra ID's server_error, its cause in the
// log only; an *entraError is answered as it is.
func TestHandleWritesTheErrorAHandlerReturns(t *testing.T) {
	var logs bytes.Buffer
	is := &Issuer{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	for _, tc := range []struct {
		err     error
		status  int
		code    string
		aadsts  int
		inLog   bool
		private string // must not be in the body
	}{
		{errors.New("apps.json: permission denied"), 500, "server_error", 90100, true, "permission denied"},
		{missingParameter("scope"), 400, "invalid_request", 900144, false, ""},
	} {
		logs.Reset()
		h := is.handle(func(http.ResponseWriter, *http.Request) error { return tc.err })
		w := httptest.NewRecorder()
		h(w, httptest.NewRequest(http.MethodPost, "/t1/oauth2/v2.0/token", nil))
		var body struct {
			Error      string `json:"error"`
			ErrorCodes []int  `json:"error_codes"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: %v: %s", tc.err, err, w.Body)
		}
		if w.Code != tc.status || body.Error != tc.code || len(body.ErrorCodes) != 1 || body.ErrorCodes[0] != tc.aadsts {
			t.Errorf("%v: %d %s %v, want %d %s %d", tc.err, w.Code, body.Error, body.ErrorCodes, tc.status, tc.code, tc.aadsts)
		}
		if tc.private != "" && strings.Contains(w.Body.String(), tc.private) {
			t.Errorf("%v: the body tells the cause: %s", tc.err, w.Body)
		}
		if got := strings.Contains(logs.String(), "permission denied"); got != tc.inLog {
			t.Errorf("%v: the cause logged %v, want %v:\n%s", tc.err, got, tc.inLog, logs.String())
		}
	}
	// Too many secret checks at once: Entra ID's throttling of the client
	// credentials grant.
	busy := is.handle(func(http.ResponseWriter, *http.Request) error {
		return fmt.Errorf("token endpoint: %w", auth.ErrBusy)
	})
	w := httptest.NewRecorder()
	busy(w, httptest.NewRequest(http.MethodPost, "/t1/oauth2/v2.0/token", nil))
	if w.Code != 429 || w.Header().Get("Retry-After") != "1" || w.Body.String() != "Too Many Requests" ||
		w.Header().Get("Cache-Control") != "no-store, no-cache" {
		t.Errorf("ErrBusy: %d %v %s", w.Code, w.Header(), w.Body)
	}
	ok := is.handle(func(w http.ResponseWriter, _ *http.Request) error { w.WriteHeader(204); return nil })
	w = httptest.NewRecorder()
	ok(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != 204 || w.Body.Len() != 0 {
		t.Errorf("a handler that succeeds: %d %s", w.Code, w.Body)
	}
}
