package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault/postgres/pgtest"
)

// webhook is a loopback notification endpoint: it answers the validation
// handshake, fails the first `fail` notification POSTs with a 500, and
// counts every notification it accepted by "changeType resource".
type webhook struct {
	*httptest.Server
	mu       sync.Mutex
	fail     int
	posts    int
	accepted map[string]int
	bodies   [][]byte
}

func newWebhook(t *testing.T, fail int) *webhook { return newWebhookTLS(t, fail, false) }

func newWebhookTLS(t *testing.T, fail int, https bool) *webhook {
	h := &webhook{fail: fail, accepted: map[string]int{}}
	h.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, tok)
			return
		}
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.posts++
		if h.fail > 0 {
			h.fail--
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var n struct {
			Value []struct{ ChangeType, Resource string }
		}
		if err := json.Unmarshal(body, &n); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for _, v := range n.Value {
			h.accepted[v.ChangeType+" "+v.Resource]++
		}
		h.bodies = append(h.bodies, body)
		w.WriteHeader(http.StatusAccepted)
	}))
	if https {
		h.StartTLS()
	} else {
		h.Start()
	}
	t.Cleanup(h.Close)
	return h
}

// waitFor waits, at most 20 s, until the webhook accepted n notifications
// in all, and returns the counts.
func (h *webhook) waitFor(t *testing.T, n int) map[string]int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.mu.Lock()
		total := 0
		for _, c := range h.accepted {
			total += c
		}
		counts := make(map[string]int, len(h.accepted))
		for k, v := range h.accepted {
			counts[k] = v
		}
		h.mu.Unlock()
		if total >= n {
			return counts
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook accepted %d notifications, want %d", total, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call makes a request with a JSON body and returns the status and body.
func call(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func mintToken(t *testing.T, store []string, tenant string) string {
	t.Helper()
	out, errs, status := runCLI(t, "", append([]string{"token", "--tenant", tenant, "--roles", "CallRecords.Read.All,CallRecords.Ingest.All"}, store...)...)
	if status != 0 {
		t.Fatalf("token exits %d: %s", status, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

func subscribeTo(t *testing.T, base, token, hook string) string {
	t.Helper()
	body := fmt.Sprintf(`{"changeType":"created,updated","notificationUrl":%q,"resource":"/communications/callRecords","expirationDateTime":%q,"clientState":"e2e"}`,
		hook, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	status, b := call(t, "POST", base+"/v1.0/subscriptions", token, body)
	if status != http.StatusCreated {
		t.Fatalf("POST /subscriptions: %d %s", status, b)
	}
	var sub struct{ ID string }
	json.Unmarshal(b, &sub)
	return sub.ID
}

func versioned(id string, version int) string {
	return strings.Replace(record(id, 2), `"version":1`, fmt.Sprintf(`"version":%d`, version), 1)
}

// TestNotificationsFromImportAndIngest runs the real binary: a record
// imported by another process gives "created", a higher version pushed to
// the ingest API "updated", the same version nothing; a webhook that fails
// first gets the notification again; the diagnostics endpoint shows it.
func TestNotificationsFromImportAndIngest(t *testing.T) {
	const tenant = "0e5c1d2a-0000-4000-8000-00000000e2e1"
	data := t.TempDir()
	hook := newWebhook(t, 1)
	srv := startServer(t, "--data", data, "--allow-http-webhooks", "--ingest", "--notify-retry", "200ms")
	token := mintToken(t, []string{"--data", data}, tenant)
	subID := subscribeTo(t, srv.url, token, hook.URL+"/notify?source=e2e")

	file := filepath.Join(t.TempDir(), "r.jsonl")
	os.WriteFile(file, []byte(versioned("rec-1", 1)+"\n"), 0o600)
	if out, errs, status := runCLI(t, "", "import", "--data", data, "--tenant", tenant, file); status != 0 {
		t.Fatalf("import exits %d: %s%s", status, out, errs)
	}
	counts := hook.waitFor(t, 1)
	if counts["created communications/callRecords/rec-1"] != 1 {
		t.Errorf("after the import: %v", counts)
	}

	for _, v := range []int{2, 2} { // a higher version, then the same again
		status, b := call(t, "POST", srv.url+"/ingest/v1/callRecords", token, versioned("rec-1", v))
		if status != 200 {
			t.Fatalf("ingest: %d %s", status, b)
		}
	}
	hook.waitFor(t, 2)
	time.Sleep(500 * time.Millisecond) // room for a wrong third one
	counts = hook.waitFor(t, 2)
	if len(counts) != 2 || counts["updated communications/callRecords/rec-1"] != 1 || counts["created communications/callRecords/rec-1"] != 1 {
		t.Errorf("notifications: %v, want one created and one updated", counts)
	}

	status, b := call(t, "GET", srv.url+"/diagnostics/v1/notificationDeliveries?subscriptionId="+subID, token, "")
	if status != 200 {
		t.Fatalf("diagnostics: %d %s", status, b)
	}
	var log struct {
		Value []struct {
			Status  int
			Outcome string
			URL     string
		}
	}
	json.Unmarshal(b, &log)
	var seen []string
	for _, a := range log.Value {
		seen = append(seen, fmt.Sprintf("%d %s", a.Status, a.Outcome))
		if strings.Contains(a.URL, "source=e2e") {
			t.Errorf("the log shows the URL's query: %s", a.URL)
		}
	}
	if strings.Join(seen, ",") != "202 delivered,202 delivered,500 retry" {
		t.Errorf("delivery log (newest first): %v", seen)
	}
	if logs := srv.stop(); strings.Contains(logs, "e2e\"") || strings.Contains(logs, "clientState") {
		t.Errorf("the log shows the clientState:\n%s", logs)
	}
}

// TestAHandshakeThatFailsCreatesNothing: a wrong echo and a silent endpoint
// (not with -short: it takes Graph's 10 s).
func TestAHandshakeThatFailsCreatesNothing(t *testing.T) {
	const tenant = "0e5c1d2a-0000-4000-8000-00000000e2e2"
	data := t.TempDir()
	srv := startServer(t, "--data", data, "--allow-http-webhooks")
	token := mintToken(t, []string{"--data", data}, tenant)
	wrong := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "not the token")
	}))
	defer wrong.Close()
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(15 * time.Second):
		}
	}))
	defer silent.Close()
	cases := []struct{ url, code string }{{wrong.URL, "ValidationError"}, {silent.URL, "InvalidRequest"}}
	if testing.Short() {
		cases = cases[:1] // the silent endpoint takes Graph's 10 s
	}
	for _, c := range cases {
		body := fmt.Sprintf(`{"changeType":"created","notificationUrl":%q,"resource":"communications/callRecords","expirationDateTime":%q}`,
			c.url, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		start := time.Now()
		status, b := call(t, "POST", srv.url+"/v1.0/subscriptions", token, body)
		if status != 400 || !bytes.Contains(b, []byte(`"code":"`+c.code+`"`)) {
			t.Errorf("%s: %d %s", c.code, status, b)
		}
		if c.code == "InvalidRequest" && time.Since(start) < 9*time.Second {
			t.Errorf("the handshake gave up after %v, before Graph's 10 s", time.Since(start))
		}
	}
	if status, b := call(t, "GET", srv.url+"/v1.0/subscriptions", token, ""); status != 200 || !bytes.Contains(b, []byte(`"value":[]`)) {
		t.Errorf("subscriptions after failed handshakes: %d %s", status, b)
	}
}

// TestReplicasDeliverEachNotificationOnce runs two servers on one
// PostgreSQL database, both delivering: 2,000 records ingested through
// both give 2,000 notifications, none twice.
func TestReplicasDeliverEachNotificationOnce(t *testing.T) {
	dsn := pgtest.DSN(t)
	const tenant = "0e5c1d2a-0000-4000-8000-00000000e2e4"
	hook := newWebhook(t, 0)
	a := startServer(t, "--db", dsn, "--data", t.TempDir(), "--allow-http-webhooks", "--ingest")
	b := startServer(t, "--db", dsn, "--data", t.TempDir(), "--allow-http-webhooks", "--ingest")
	token := mintToken(t, []string{"--db", dsn, "--data", t.TempDir()}, tenant)
	subscribeTo(t, a.url, token, hook.URL)

	const records, perBody = 2000, 100
	for i := 0; i < records; i += perBody {
		var body strings.Builder
		for j := i; j < i+perBody; j++ {
			body.WriteString(versioned(fmt.Sprintf("rec-%04d", j), 1) + "\n")
		}
		base := a.url
		if (i/perBody)%2 == 1 {
			base = b.url
		}
		if status, out := call(t, "POST", base+"/ingest/v1/callRecords", token, body.String()); status != 200 {
			t.Fatalf("ingest: %d %.300s", status, out)
		}
	}
	hook.waitFor(t, records)
	time.Sleep(time.Second) // room for duplicates to show
	counts := hook.waitFor(t, records)
	if len(counts) != records {
		t.Errorf("%d records notified, want %d", len(counts), records)
	}
	for k, c := range counts {
		if c != 1 {
			t.Errorf("%s notified %d times", k, c)
		}
	}
	hook.mu.Lock()
	posts := len(hook.bodies)
	hook.mu.Unlock()
	if posts >= records/10 {
		t.Errorf("%d POSTs for %d notifications: they should come in batches", posts, records)
	}
	t.Logf("%d notifications in %d POSTs", records, posts)
}

// TestHTTPSWebhooksByDefault: without --allow-http-webhooks only https
// URLs are taken, verified against --webhook-ca besides the system roots.
func TestHTTPSWebhooksByDefault(t *testing.T) {
	const tenant = "0e5c1d2a-0000-4000-8000-00000000e2e5"
	data := t.TempDir()
	hook := newWebhookTLS(t, 0, true)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw})
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	plainData := t.TempDir()
	plain := startServer(t, "--data", plainData)
	token := mintToken(t, []string{"--data", data}, tenant)
	srv := startServer(t, "--data", data, "--webhook-ca", ca)

	body := func(u string) string {
		return fmt.Sprintf(`{"changeType":"created","notificationUrl":%q,"resource":"/communications/callRecords","expirationDateTime":%q}`,
			u, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}
	if status, b := call(t, "POST", srv.url+"/v1.0/subscriptions", token, body("http://127.0.0.1:9/hook")); status != 400 ||
		!bytes.Contains(b, []byte("--allow-http-webhooks")) {
		t.Errorf("an http URL: %d %s", status, b)
	}
	// A server that does not trust the webhook's CA fails the handshake.
	if status, b := call(t, "POST", plain.url+"/v1.0/subscriptions", mintToken(t, []string{"--data", plainData}, tenant), body(hook.URL)); status != 400 ||
		!bytes.Contains(b, []byte("ValidationError")) {
		t.Errorf("an untrusted certificate: %d %s", status, b)
	}
	if status, b := call(t, "POST", srv.url+"/v1.0/subscriptions", token, body(hook.URL)); status != 201 {
		t.Fatalf("an https URL with its CA: %d %s", status, b)
	}
	file := filepath.Join(t.TempDir(), "r.jsonl")
	os.WriteFile(file, []byte(versioned("rec-tls", 1)+"\n"), 0o600)
	if _, errs, status := runCLI(t, "", "import", "--data", data, "--tenant", tenant, file); status != 0 {
		t.Fatalf("import: %s", errs)
	}
	if counts := hook.waitFor(t, 1); counts["created communications/callRecords/rec-tls"] != 1 {
		t.Errorf("notifications: %v", counts)
	}
}
