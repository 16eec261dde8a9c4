package graph_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
)

// receiver is a webhook endpoint on loopback that answers the validation
// handshake as mode says and records what it was sent.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	mode     string // "echo" (default), "encoded", "500", "slow", "slow-echo"
	requests []recorded
}

type recorded struct {
	query       url.Values
	rawQuery    string
	contentType string
	body        []byte
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.requests = append(rc.requests, recorded{r.URL.Query(), r.URL.RawQuery, r.Header.Get("Content-Type"), body})
		mode := rc.mode
		rc.mu.Unlock()
		token := r.URL.Query().Get("validationToken")
		switch mode {
		case "500":
			http.Error(w, "no", http.StatusInternalServerError)
		case "encoded":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, url.QueryEscape(token))
		case "slow":
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		case "slow-echo": // a handshake that passes, within the fixture's 500 ms
			select {
			case <-time.After(200 * time.Millisecond):
			case <-r.Context().Done():
			}
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, token)
		default:
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, token)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setMode(m string) {
	rc.mu.Lock()
	rc.mode = m
	rc.mu.Unlock()
}

func (rc *receiver) seen() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.requests...)
}

// send makes a request with a JSON body and the token tok ("" for tenant
// A's default app token).
func (f *fixture) send(t *testing.T, method, path, tok, body string) *http.Response {
	t.Helper()
	if tok == "" {
		tok = f.token(t, auth.TokenOptions{Tenant: tenantA})
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.server.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// subscriptionBody is a create request; fields override or add properties.
func subscriptionBody(notificationURL string, fields map[string]any) string {
	m := map[string]any{
		"changeType":         "created,updated",
		"notificationUrl":    notificationURL,
		"resource":           "/communications/callRecords",
		"expirationDateTime": now.Add(4230 * time.Minute).Format(time.RFC3339Nano),
		"clientState":        "secretClientValue",
	}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// stable replaces the receiver's port, which changes each run, in a
// rendered response.
func stable(b []byte, rc *receiver) []byte {
	return bytes.ReplaceAll(b, []byte(rc.URL), []byte("http://127.0.0.1:RECEIVER"))
}

func TestSubscriptionLifecycleResponses(t *testing.T) {
	f := newFixture(t, nil)
	rc := newReceiver(t)
	hook := rc.URL + "/api/notify?tenant=a"

	resp := f.send(t, "POST", "/v1.0/subscriptions", "", subscriptionBody(hook, nil))
	created := render(t, resp)
	golden(t, "subscription-create", stable(created, rc))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %s", created)
	}
	// The handshake: one POST, the URL's own query kept, text/plain, no body.
	reqs := rc.seen()
	if len(reqs) != 1 {
		t.Fatalf("the receiver got %d requests, want the 1 validation request", len(reqs))
	}
	v := reqs[0]
	if v.query.Get("tenant") != "a" || !strings.HasPrefix(v.query.Get("validationToken"), "Validation: ") ||
		v.contentType != "text/plain; charset=utf-8" || len(v.body) != 0 {
		t.Errorf("validation request: query %q, content type %q, body %q", v.rawQuery, v.contentType, v.body)
	}
	if !strings.Contains(v.rawQuery, "validationToken=Validation%3a+Testing") {
		t.Errorf("the token is not encoded as Graph encodes it (lowercase escapes, + for spaces): %s", v.rawQuery)
	}

	id := "00000000-0000-4000-8000-000000000002" // the fixture's second GUID (the first is the request's id)
	for _, c := range []struct{ name, method, path, tok, body string }{
		{"subscription-list", "GET", "/v1.0/subscriptions", "", ""},
		{"subscription-get", "GET", "/v1.0/subscriptions/" + id, "", ""},
		{"subscription-get-beta", "GET", "/beta/subscriptions/" + id, "", ""},
		{"subscription-renew", "PATCH", "/v1.0/subscriptions/" + id, "", `{"expirationDateTime":"` + now.Add(time.Hour).Format(time.RFC3339) + `"}`},
		{"subscription-renew-whole", "PATCH", "/v1.0/subscriptions/" + id, "", subscriptionBody(hook, map[string]any{
			"id": id, "clientState": nil, "expirationDateTime": now.Add(2 * time.Hour).Format(time.RFC3339)})},
		{"subscription-reauthorize", "POST", "/v1.0/subscriptions/" + id + "/reauthorize", "", ""},
		{"subscription-other-tenant", "GET", "/v1.0/subscriptions/" + id, f.token(t, auth.TokenOptions{Tenant: tenantB}), ""},
		{"subscription-other-tenant-delete", "DELETE", "/v1.0/subscriptions/" + id, f.token(t, auth.TokenOptions{Tenant: tenantB}), ""},
		{"subscription-other-tenant-list", "GET", "/v1.0/subscriptions", f.token(t, auth.TokenOptions{Tenant: tenantB}), ""},
		{"subscription-other-app", "GET", "/v1.0/subscriptions/" + id, f.token(t, auth.TokenOptions{Tenant: tenantA, AppID: "11111111-2222-4333-8444-555555555555"}), ""},
		{"subscription-renew-resource", "PATCH", "/v1.0/subscriptions/" + id, "", `{"expirationDateTime":"` + now.Add(time.Hour).Format(time.RFC3339) + `","resource":"/users"}`},
		{"subscription-renew-nothing", "PATCH", "/v1.0/subscriptions/" + id, "", `{"clientState":"x"}`},
		{"subscription-delete", "DELETE", "/v1.0/subscriptions/" + id, "", ""},
		{"subscription-after-delete", "GET", "/v1.0/subscriptions/" + id, "", ""},
		{"subscription-delete-again", "DELETE", "/v1.0/subscriptions/" + id, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			golden(t, c.name, stable(render(t, f.send(t, c.method, c.path, c.tok, c.body)), rc))
		})
	}
}

// TestOverlappingRenewalsKeepBoth: a PATCH that moves the notificationUrl
// waits on its handshake; a renewal of the expiry that lands meanwhile
// must still be there after the first is written.
func TestOverlappingRenewalsKeepBoth(t *testing.T) {
	f := newFixture(t, nil)
	rc, moved := newReceiver(t), newReceiver(t)
	resp := f.send(t, "POST", "/v1.0/subscriptions", "", subscriptionBody(rc.URL, nil))
	var sub struct {
		ID              string `json:"id"`
		NotificationURL string `json:"notificationUrl"`
		Expiration      string `json:"expirationDateTime"`
		ClientState     any    `json:"clientState"`
	}
	json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	path := "/v1.0/subscriptions/" + sub.ID
	moved.setMode("slow-echo")
	done := make(chan int)
	go func() {
		resp := f.send(t, "PATCH", path, "", `{"notificationUrl":"`+moved.URL+`"}`)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	// Once the first PATCH's handshake is under way, renew the expiry.
	for deadline := time.Now().Add(5 * time.Second); len(moved.seen()) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the handshake of the first PATCH never came")
		}
	}
	expiry := now.Add(2 * time.Hour).UTC().Format(time.RFC3339)
	resp = f.send(t, "PATCH", path, "", `{"expirationDateTime":"`+expiry+`"}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || <-done != http.StatusOK {
		t.Fatalf("the renewals: %d and the move", resp.StatusCode)
	}
	resp = f.send(t, "GET", path, "", "")
	json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	if sub.NotificationURL != moved.URL || sub.Expiration != expiry {
		t.Errorf("after both: notificationUrl %s, expirationDateTime %s; want %s and %s", sub.NotificationURL, sub.Expiration, moved.URL, expiry)
	}
	if sub.ClientState != "secretClientValue" {
		t.Errorf("GET by id: clientState %v", sub.ClientState)
	}

	// The whole subscription sent back, spelled as the CRI sample and
	// Graph's SDKs spell it, is a renewal, not a change.
	whole := subscriptionBody(moved.URL, map[string]any{"resource": "communications/callRecords", "changeType": "updated,created",
		"expirationDateTime": now.Add(3 * time.Hour).Format(time.RFC3339)})
	resp = f.send(t, "PATCH", path, "", whole)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the whole subscription, respelled: %d %s", resp.StatusCode, body)
	}
	for ct, want := range map[string]int{`"application/json"`: http.StatusOK, `"application/json; charset=utf-8"`: http.StatusOK, `null`: http.StatusOK, `"application/xml"`: http.StatusBadRequest, `7`: http.StatusBadRequest} {
		resp = f.send(t, "PATCH", path, "", `{"expirationDateTime":"`+expiry+`","notificationContentType":`+ct+`}`)
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("notificationContentType %s: %d %s, want %d", ct, resp.StatusCode, body, want)
		}
	}
	resp = f.send(t, "PATCH", path, "", `{"expirationDateTime":"`+expiry+`","includeResourceData":true}`)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("Operation: Update;")) {
		t.Errorf("includeResourceData on PATCH: %d %s", resp.StatusCode, body)
	}
}

func TestSubscriptionErrors(t *testing.T) {
	f := newFixture(t, nil)
	rc := newReceiver(t)
	hook := rc.URL + "/hook"
	delegated := f.token(t, auth.TokenOptions{Tenant: tenantA, Delegated: true})
	noRole := f.token(t, auth.TokenOptions{Tenant: tenantA, Roles: []string{"User.Read.All"}})
	for _, c := range []struct {
		name, tok, body, mode string
	}{
		{"delegated", delegated, subscriptionBody(hook, nil), ""},
		{"no-role", noRole, subscriptionBody(hook, nil), ""},
		{"expiry-too-far", "", subscriptionBody(hook, map[string]any{"expirationDateTime": now.Add(4231 * time.Minute).Format(time.RFC3339)}), ""},
		{"expiry-past", "", subscriptionBody(hook, map[string]any{"expirationDateTime": now.Add(-time.Minute).Format(time.RFC3339)}), ""},
		{"expiry-not-a-date", "", subscriptionBody(hook, map[string]any{"expirationDateTime": "tomorrow"}), ""},
		{"change-deleted", "", subscriptionBody(hook, map[string]any{"changeType": "created,deleted"}), ""},
		{"change-twice", "", subscriptionBody(hook, map[string]any{"changeType": "created,created"}), ""},
		{"resource-users", "", subscriptionBody(hook, map[string]any{"resource": "/users"}), ""},
		{"client-state-129", "", subscriptionBody(hook, map[string]any{"clientState": strings.Repeat("x", 129)}), ""},
		{"unknown-property", "", subscriptionBody(hook, map[string]any{"notifcationUrl": hook}), ""},
		{"missing-url", "", subscriptionBody(hook, map[string]any{"notificationUrl": nil}), ""},
		{"rich-notifications", "", subscriptionBody(hook, map[string]any{"includeResourceData": true}), ""},
		{"tls-version", "", subscriptionBody(hook, map[string]any{"latestSupportedTlsVersion": "v2_0"}), ""},
		{"event-hub", "", subscriptionBody("EventHub:https://ns.servicebus.windows.net/eventhubname/hub?tenantId=contoso.com", nil), ""},
		{"metadata-address", "", subscriptionBody("http://169.254.169.254/latest", nil), ""},
		{"not-json", "", `{"changeType":`, ""},
		{"validation-500", "", subscriptionBody(hook, nil), "500"},
		{"validation-encoded-echo", "", subscriptionBody(hook, nil), "encoded"},
		{"validation-timeout", "", subscriptionBody(hook, nil), "slow"},
		{"lifecycle-validation-500", "", subscriptionBody(hook, map[string]any{"lifecycleNotificationUrl": hook + "?lifecycle"}), "500"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc.setMode(c.mode)
			golden(t, "subscription-error-"+c.name, stable(render(t, f.send(t, "POST", "/v1.0/subscriptions", c.tok, c.body)), rc))
		})
	}
	rc.setMode("")
	if subs, err := f.db.ListSubscriptions(context.Background(), tenantA, now); err != nil || len(subs) != 0 {
		t.Errorf("refused subscriptions were stored: %d (%v)", len(subs), err)
	}
}

func TestSubscriptionQuotaIsAHundredPerTenant(t *testing.T) {
	f := newFixture(t, nil)
	rc := newReceiver(t)
	for i := range 100 {
		resp := f.send(t, "POST", "/v1.0/subscriptions", "", subscriptionBody(rc.URL, nil))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("subscription %d: %s", i+1, render(t, resp))
		}
		resp.Body.Close()
	}
	golden(t, "subscription-error-quota", render(t, f.send(t, "POST", "/v1.0/subscriptions", "", subscriptionBody(rc.URL, nil))))
	// Another tenant has a quota of its own.
	resp := f.send(t, "POST", "/v1.0/subscriptions", f.token(t, auth.TokenOptions{Tenant: tenantB}), subscriptionBody(rc.URL, nil))
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("tenant B: %s", render(t, resp))
	}
	resp.Body.Close()
}

// TestSubscriptionReadsTakeNoQueryOptions: Graph refuses $select on GET
// /subscriptions with ASP.NET OData's validation error, code empty; the
// other system query options likewise, and on one subscription too.
func TestSubscriptionReadsTakeNoQueryOptions(t *testing.T) {
	f := newFixture(t, nil)
	golden(t, "subscription-error-query-option-list", render(t, f.send(t, "GET", "/v1.0/subscriptions?$select=id,resource", "", "")))
	golden(t, "subscription-error-query-option-get", render(t, f.send(t, "GET", "/beta/subscriptions/x?tenant=a&%24TOP=1", "", "")))
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1.0/subscriptions?$count=true", http.StatusBadRequest},
		{"GET", "/v1.0/subscriptions?$skiptoken=x", http.StatusBadRequest},
		{"GET", "/v1.0/subscriptions?tenant=a&select=id", http.StatusOK}, // not system query options
		{"DELETE", "/v1.0/subscriptions/x?$top=1", http.StatusNotFound},  // only reads validate them
	} {
		resp := f.send(t, c.method, c.path, "", "")
		if b := render(t, resp); resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d\n%s", c.method, c.path, resp.StatusCode, c.status, b)
		}
	}
}

func TestSubscriptionMethodsAndPaths(t *testing.T) {
	f := newFixture(t, nil)
	for _, c := range []struct{ method, path string }{
		{"PUT", "/v1.0/subscriptions"},
		{"DELETE", "/v1.0/subscriptions"},
		{"GET", "/v1.0/subscriptions/x/reauthorize"},
		{"POST", "/v1.0/subscriptions/x/renew"},
		{"GET", "/v1.0/subscriptions/"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			resp := f.send(t, c.method, c.path, "", "")
			b := render(t, resp)
			if resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 405 or 400:\n%s", resp.StatusCode, b)
			}
		})
	}
	resp := f.send(t, "GET", "/v1.0/subscriptions", "not-a-token", "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a bad token: %d, want 401", resp.StatusCode)
	}
	resp.Body.Close()
}

// The official SDKs gzip request bodies; Graph takes them, and so must we.
func TestSubscriptionBodiesMayBeGzipped(t *testing.T) {
	f := newFixture(t, nil)
	rc := newReceiver(t)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	io.WriteString(zw, subscriptionBody(rc.URL, nil))
	zw.Close()
	for _, c := range []struct {
		encoding string
		body     []byte
		status   int
	}{
		{"gzip", zb.Bytes(), http.StatusCreated},
		{"br", zb.Bytes(), http.StatusUnsupportedMediaType},
		{"gzip", []byte("not gzip"), http.StatusBadRequest},
	} {
		req, _ := http.NewRequest("POST", f.server.URL+"/v1.0/subscriptions", bytes.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+f.token(t, auth.TokenOptions{Tenant: tenantA}))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", c.encoding)
		resp, err := plainClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if b := render(t, resp); resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d:\n%s", c.encoding, resp.StatusCode, c.status, b)
		}
	}
}
