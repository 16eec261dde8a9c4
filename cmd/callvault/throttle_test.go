package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/postgres/pgtest"
)

// importAndToken imports records for tenant t1 into a new data directory
// and returns it with an app token.
func importAndToken(t *testing.T, records ...string) (data, token string) {
	t.Helper()
	data = t.TempDir()
	file := filepath.Join(t.TempDir(), "records.jsonl")
	if err := os.WriteFile(file, []byte(strings.Join(records, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errs, status := runCLI(t, "", "import", "--data", data, "--tenant", "t1", file); status != 0 {
		t.Fatalf("import: %d %s %s", status, out, errs)
	}
	out, _, status := runCLI(t, "", "token", "--data", data, "--tenant", "t1")
	if status != 0 {
		t.Fatalf("token exits %d", status)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return data, lines[len(lines)-1]
}

func getH(t *testing.T, url, token string, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestServeThrottleGraph: with --throttle graph the 41st request on one
// record within 20 s is a 429 with a Retry-After of at most 20 s; in strict
// mode a retry sent at once is refused again and counted; the log names
// the bucket, the response does not; $metadata is never throttled.
func TestServeThrottleGraph(t *testing.T) {
	data, token := importAndToken(t, record("rec-1", 2))
	s := startServer(t, "--data", data, "--throttle", "graph", "--throttle-strict")
	sessions := s.url + "/v1.0/communications/callRecords/rec-1/sessions"
	for i := range 40 {
		if resp := getH(t, sessions, token); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i+1, resp.StatusCode)
		}
	}
	resp := getH(t, sessions, token)
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || err != nil || ra < 1 || ra > 20 {
		t.Fatalf("41st: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	for k := range resp.Header {
		if strings.Contains(strings.ToLower(k), "throttle") || strings.Contains(strings.ToLower(k), "ratelimit") {
			t.Errorf("the 429 has a header Graph does not send: %s", k)
		}
	}
	if resp := getH(t, sessions, token, "Retry-Attempt", "1"); resp.StatusCode != 429 {
		t.Errorf("an immediate retry in strict mode: %d, want 429", resp.StatusCode)
	}
	// Another record, and $metadata, are not affected.
	if resp := getH(t, s.url+"/v1.0/communications/callRecords/rec-2", token); resp.StatusCode != 404 {
		t.Errorf("another record: %d, want 404 (not throttled)", resp.StatusCode)
	}
	if resp := getH(t, s.url+"/v1.0/$metadata", ""); resp.StatusCode != 200 {
		t.Errorf("$metadata: %d", resp.StatusCode)
	}
	logs := s.stop()
	for _, want := range []string{"bucket=perCallRecord", "retry_attempt=1", "early_retries_total=1", "throttled_total=1", "retry_attempts_total=1"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
}

// TestServeFaults: a profile's 503 comes with its fractional Retry-After,
// and a record that ended less than notYetThere ago is a 404 that becomes
// a 200 for older records, and is not in the list or its count.
func TestServeFaults(t *testing.T) {
	end := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
	fresh := strings.NewReplacer(`"rec-new"`, `"rec-new"`, "2026-11-01T11:00:00Z", end, "2026-11-01T11:05:00Z", end).Replace(record("rec-new", 1))
	data, token := importAndToken(t, record("rec-1", 1), fresh)
	profile := filepath.Join(t.TempDir(), "faults.json")
	os.WriteFile(profile, []byte(`{"seed":1,"rules":[
		{"route":"communications/callRecords/*/sessions","faults":[{"rate":1,"status":503,"retryAfter":"2.128"}]},
		{"route":"communications/callRecords/**","notYetThere":"15m"}]}`), 0o600)
	s := startServer(t, "--data", data, "--faults", profile)
	resp := getH(t, s.url+"/v1.0/communications/callRecords/rec-1/sessions", token)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2.128" {
		t.Errorf("sessions: %d, Retry-After %q; want 503, 2.128", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := getH(t, s.url+"/v1.0/communications/callRecords/rec-new", token); resp.StatusCode != 404 {
		t.Errorf("a record that just ended: %d, want 404", resp.StatusCode)
	}
	if resp := getH(t, s.url+"/v1.0/communications/callRecords/rec-1", token); resp.StatusCode != 200 {
		t.Errorf("an older record: %d, want 200", resp.StatusCode)
	}
	if status, body := get(t, s.url+"/v1.0/communications/callRecords?$select=id&$count=true", token); !strings.Contains(string(body), `"@odata.count":1,"value":[{"id":"rec-1"}]`) {
		t.Errorf("the list holds a record that is not there yet: %d %s", status, body)
	}
	if _, body := get(t, s.url+"/v1.0/communications/callRecords/$count", token); string(body) != "1" {
		t.Errorf("$count: %s, want 1", body)
	}
}

// TestServeRefusesBadThrottlingFlags: bad profiles stop serve on start,
// naming what is wrong.
func TestServeRefusesBadThrottlingFlags(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"seed":1,"rules":[{"route":"**","faults":[{"rate":1,"status":503,"retryAfter":"soon"}]}]}`), 0o600)
	badLimits := filepath.Join(t.TempDir(), "limits.json")
	os.WriteFile(badLimits, []byte(`{"limits":{"perRecord":{"requests":5}}}`), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--faults", bad}, `rules[0]: faults[0]: retryAfter: "soon"`},
		{[]string{"--throttle", badLimits}, `unknown limit "perRecord"`},
		{[]string{"--throttle", "fast"}, "use graph, off or a profile file"},
		{[]string{"--throttle-strict"}, "--throttle-strict needs --throttle"},
	} {
		_, errs, status := runCLI(t, "", append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, tc.args...)...)
		if status == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("serve %v: status %d, stderr %s; want an error with %q", tc.args, status, errs, tc.want)
		}
	}
}

// TestReplicasShareGraphsLimits: two servers with --throttle graph on one
// PostgreSQL database admit 40 requests on a record between them, not 40
// each (issue 13, point 5).
func TestReplicasShareGraphsLimits(t *testing.T) {
	dsn := pgtest.DSN(t)
	file := filepath.Join(t.TempDir(), "records.jsonl")
	if err := os.WriteFile(file, []byte(record("rec-1", 1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errs, status := runCLI(t, "", "import", "--db", dsn, "--tenant", "t1", file); status != 0 {
		t.Fatalf("import exits %d: %s%s", status, out, errs)
	}
	a := startServer(t, "--db", dsn, "--data", t.TempDir(), "--throttle", "graph")
	b := startServer(t, "--db", dsn, "--data", t.TempDir(), "--throttle", "graph")
	out, errs, status := runCLI(t, "", "token", "--db", dsn, "--data", t.TempDir(), "--tenant", "t1")
	if status != 0 {
		t.Fatalf("token exits %d: %s", status, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	token := lines[len(lines)-1]
	counts := map[int]int{}
	for i := range 60 {
		base := a.url
		if i%2 == 1 {
			base = b.url
		}
		counts[getH(t, base+"/v1.0/communications/callRecords/rec-1/sessions", token).StatusCode]++
	}
	if counts[200] != 40 || counts[429] != 20 {
		t.Errorf("two replicas answered %v to 60 requests on one record, want 40 200s and 20 429s", counts)
	}
	if logs := a.stop(); !strings.Contains(logs, "buckets=database") {
		t.Errorf("serve did not say its buckets are the database's:\n%s", logs)
	}
}
