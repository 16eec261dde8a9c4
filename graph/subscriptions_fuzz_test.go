package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
)

// onlyTo is an HTTP client that dials addr and nothing else, without
// resolving a name: whatever URL a fuzzed subscription names, its
// validation request goes to the loopback receiver or nowhere, and no DNS
// query leaves the machine.
func onlyTo(addr string) *http.Client {
	return &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
				if a != addr {
					return nil, errors.New("fuzz: only the loopback receiver is dialled")
				}
				var d net.Dialer
				return d.DialContext(ctx, network, a)
			},
		},
	}
}

// FuzzSubscriptions sends /subscriptions whatever method, path and body
// the fuzzer makes, as tenant A, in process, with a receiver on loopback
// that answers validation requests (and a client that dials nothing
// else). Every answer keeps FuzzRequest's rules (never a 5xx, Graph's
// envelope on a 4xx); a subscription is stored only with a 201, which
// then reads back as it was answered; and tenant B never sees one.
func FuzzSubscriptions(f *testing.F) {
	rc := newReceiver(f)
	fx := newFixtureWith(f, nil, 0, func(s *graph.Server) {
		s.Subscriptions.Client = onlyTo(rc.Listener.Addr().String())
	})
	handler := fx.srv.Handler()
	tokA := fx.token(f, auth.TokenOptions{Tenant: tenantA})
	tokB := fx.token(f, auth.TokenOptions{Tenant: tenantB})

	valid := subscriptionBody(rc.URL, nil)
	f.Add(uint8(0), "", []byte(valid))
	f.Add(uint8(0), "", []byte(subscriptionBody(rc.URL+"/hook?x=1", map[string]any{"lifecycleNotificationUrl": rc.URL + "/life", "includeResourceData": false})))
	f.Add(uint8(0), "", []byte(subscriptionBody("https://elsewhere.example/hook", nil)))
	f.Add(uint8(0), "", []byte(subscriptionBody(rc.URL, map[string]any{"expirationDateTime": "2019-01-01T00:00:00Z", "changeType": "deleted"})))
	f.Add(uint8(0), "", []byte(`{"changeType":1}`))
	f.Add(uint8(1), "/00000000-0000-4000-8000-000000000001", []byte(`{"expirationDateTime":"`+now.Add(time.Hour).Format(time.RFC3339)+`"}`))
	f.Add(uint8(2), "/00000000-0000-4000-8000-000000000001", []byte(nil))
	f.Add(uint8(3), "('00000000-0000-4000-8000-000000000001')", []byte(nil))

	methods := []string{http.MethodPost, http.MethodPatch, http.MethodGet, http.MethodDelete, http.MethodPut}
	send := func(t *testing.T, method, path, tok string, body []byte) *httptest.ResponseRecorder {
		// Parsed as a client would send it first: httptest.NewRequest
		// panics on a target that does not parse.
		r, err := http.NewRequest(method, "http://graph.microsoft.com"+path, nil)
		if err != nil {
			return nil
		}
		req := httptest.NewRequest(method, r.URL.RequestURI(), bytes.NewReader(body))
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("Authorization", "Bearer "+tok)
		if len(body) > 0 {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		checkAnswer(t, method+" "+path, rec)
		return rec
	}
	f.Fuzz(func(t *testing.T, m uint8, tail string, body []byte) {
		method := methods[int(m)%len(methods)]
		path := "/v1.0/subscriptions" + tail
		if strings.ContainsAny(tail, " \r\n\x00#?") {
			return // not a request line net/http would hand over as this path
		}
		rec := send(t, method, path, tokA, body)
		if rec == nil {
			return
		}
		if rec.Code == http.StatusCreated {
			var created struct{ ID string }
			if err := json.Unmarshal(rec.Body.Bytes(), &created); err != nil || created.ID == "" {
				t.Fatalf("201 without an id:\n%.2000s", rec.Body.Bytes())
			}
			got := send(t, http.MethodGet, "/v1.0/subscriptions/"+created.ID, tokA, nil)
			if got.Code != http.StatusOK {
				t.Fatalf("created %s, then GET: %d %.500s", created.ID, got.Code, got.Body.Bytes())
			}
			if b := send(t, http.MethodGet, "/v1.0/subscriptions/"+created.ID, tokB, nil); b.Code != http.StatusNotFound {
				t.Fatalf("tenant B reads tenant A's subscription: %d", b.Code)
			}
			// The same body as an update of it.
			send(t, http.MethodPatch, "/v1.0/subscriptions/"+created.ID, tokA, body)
			// Deleted, so that the tenant stays under its quota.
			if d := send(t, http.MethodDelete, "/v1.0/subscriptions/"+created.ID, tokA, nil); d.Code != http.StatusNoContent {
				t.Fatalf("DELETE of a created subscription: %d %.500s", d.Code, d.Body.Bytes())
			}
		}
		// No answer other than a 201 leaves a subscription behind.
		list := send(t, http.MethodGet, "/v1.0/subscriptions", tokA, nil)
		var l struct{ Value []json.RawMessage }
		if err := json.Unmarshal(list.Body.Bytes(), &l); err != nil || list.Code != http.StatusOK {
			t.Fatalf("list: %d %v", list.Code, err)
		}
		if len(l.Value) != 0 && method == http.MethodPost {
			t.Fatalf("%s %s answered %d and left %d subscriptions:\n%.1000s", method, path, rec.Code, len(l.Value), list.Body.Bytes())
		}
		for _, s := range l.Value {
			var sub struct{ ID string }
			json.Unmarshal(s, &sub)
			send(t, http.MethodDelete, "/v1.0/subscriptions/"+sub.ID, tokA, nil)
		}
	})
}
