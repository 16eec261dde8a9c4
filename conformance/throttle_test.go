package conformance

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/callvault/callvault/synth"
)

// startServing imports the records and serves them with flags, on a free
// loopback port; the server stops with the test.
func startServing(t *testing.T, flags []string, records ...[]byte) *server {
	t.Helper()
	s := &server{data: t.TempDir()}
	file := filepath.Join(t.TempDir(), "records.jsonl")
	var content []byte
	for _, r := range records {
		content = append(append(content, r...), '\n')
	}
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary, "import", "--data", s.data, "--tenant", tenant, file).CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	cmd := exec.Command(binary, append([]string{"serve", "--data", s.data, "--addr", "127.0.0.1:0", "--log-level", "warn"}, flags...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "callvault listening on "); ok {
			s.url, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if s.url == "" {
		t.Fatal("the server did not say where it listens")
	}
	go func() {
		for lines.Scan() {
		}
	}()
	return s
}

// wire records every exchange the SDK's middleware (its retry handler
// included) has with the server.
type wire struct {
	mu        sync.Mutex
	exchanges []exchange
}

type exchange struct {
	sent, answered time.Time
	status         int
	retryAfter     string // the response's
	attempt        string // the request's Retry-Attempt
}

func (w *wire) RoundTrip(r *http.Request) (*http.Response, error) {
	e := exchange{sent: time.Now(), attempt: r.Header.Get("Retry-Attempt")}
	resp, err := http.DefaultTransport.RoundTrip(r)
	e.answered = time.Now()
	if resp != nil {
		e.status, e.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	}
	w.mu.Lock()
	w.exchanges = append(w.exchanges, e)
	w.mu.Unlock()
	return resp, err
}

// sdkOverWire is the SDK's default client (Graph's middleware, Kiota's
// retry handler with its defaults) on a transport that records the wire.
func sdkOverWire(t *testing.T, s *server) (*msgraphsdk.GraphServiceClient, *wire) {
	t.Helper()
	w := &wire{}
	opts := msgraphsdk.GetDefaultClientOptions()
	hc := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(w, msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)...)}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(bearer(s.token(t)), nil, nil, hc)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(s.url + "/v1.0")
	return msgraphsdk.NewGraphServiceClient(adapter), w
}

// TestTheSDKRetriesThroughGraphThrottling: with serve --throttle graph, a
// burst of 60 reads of one record (Graph allows 40 per 20 s) completes
// with the SDK's default retry handler; the server answered 429s, and
// after each the SDK waited at least the Retry-After it was given before
// its retry, which passed.
func TestTheSDKRetriesThroughGraphThrottling(t *testing.T) {
	const id = "c0ffee00-0000-4000-8000-000000000429"
	s := startServing(t, []string{"--throttle", "graph", "--throttle-strict"}, synth.RecordWithSessions(tenant, 5, id, 3))
	client, w := sdkOverWire(t, s)
	start := time.Now()
	for i := range 60 {
		page, err := client.Communications().CallRecords().ByCallRecordId(id).Sessions().Get(context.Background(), nil)
		if err != nil {
			t.Fatalf("request %d: %s", i+1, describe(err))
		}
		if n := len(page.GetValue()); n != 3 {
			t.Fatalf("request %d: %d sessions, want 3", i+1, n)
		}
	}
	took := time.Since(start)
	throttled := 0
	for i, e := range w.exchanges {
		if e.status != http.StatusTooManyRequests {
			continue
		}
		throttled++
		secs, err := strconv.Atoi(e.retryAfter)
		if err != nil || secs < 1 || secs > 20 {
			t.Fatalf("429 with Retry-After %q, want whole seconds from 1 to 20", e.retryAfter)
		}
		if i+1 == len(w.exchanges) {
			t.Fatal("the last exchange is a 429")
		}
		next := w.exchanges[i+1]
		gap := next.sent.Sub(e.answered)
		t.Logf("429 Retry-After: %s; the SDK retried %v later (Retry-Attempt: %s) and got %d", e.retryAfter, gap.Round(time.Millisecond), next.attempt, next.status)
		if gap < time.Duration(secs)*time.Second {
			t.Errorf("the SDK retried after %v, before Retry-After: %d", gap, secs)
		}
		if next.attempt == "" || next.status != http.StatusOK {
			t.Errorf("the retry: Retry-Attempt %q, status %d; want a numbered retry that passes", next.attempt, next.status)
		}
	}
	if throttled == 0 {
		t.Fatal("the server answered no 429 to 60 requests on one record")
	}
	t.Logf("60 requests in %v over %d exchanges, %d throttled", took.Round(time.Millisecond), len(w.exchanges), throttled)
}

// TestTheSDKSurfacesGraphsErrorAfterItsRetries: a profile that answers
// every read of a record's sessions with a 503 (Retry-After: 1) outlasts the
// SDK's three retries: it makes four attempts a second or more apart, then
// returns Graph's error.
func TestTheSDKSurfacesGraphsErrorAfterItsRetries(t *testing.T) {
	const id = "c0ffee00-0000-4000-8000-000000000503"
	profile := filepath.Join(t.TempDir(), "faults.json")
	if err := os.WriteFile(profile, []byte(`{"seed": 1, "rules": [
		{"route": "communications/callRecords/*/sessions", "faults": [{"rate": 1, "status": 503, "retryAfter": "1"}]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServing(t, []string{"--faults", profile}, synth.RecordWithSessions(tenant, 5, id, 1))
	client, w := sdkOverWire(t, s)
	_, err := client.Communications().CallRecords().ByCallRecordId(id).Sessions().Get(context.Background(), nil)
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) || oe.ResponseStatusCode != 503 || deref(oe.GetErrorEscaped().GetCode()) != "serviceNotAvailable" {
		t.Fatalf("got %s, want Graph's 503 serviceNotAvailable", describe(err))
	}
	if len(w.exchanges) != 4 {
		t.Fatalf("%d attempts, want 4 (one and the SDK's three retries)", len(w.exchanges))
	}
	for i := 1; i < len(w.exchanges); i++ {
		gap := w.exchanges[i].sent.Sub(w.exchanges[i-1].answered)
		if gap < time.Second || w.exchanges[i].attempt != strconv.Itoa(i) {
			t.Errorf("retry %d: %v after the 503, Retry-Attempt %q", i, gap, w.exchanges[i].attempt)
		}
	}
}
