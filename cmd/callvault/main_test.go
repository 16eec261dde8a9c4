package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault/synth"
)

// The tests run callvault's commands in this process, through run, as main
// does: a command line, standard input and output, and a context whose end
// is the SIGINT or SIGTERM main would have got. A real process is the point
// only where a test sends signals or kills it (-9, SIGTERM's drain), or runs
// several at once as replicas: those tests build the binary with
// realBinary, and are in realbinary_test.go.

func TestMain(m *testing.M) {
	// A command reads its flags from CALLVAULT_ variables: the tests name
	// their own, and see none of the environment's (CALLVAULT_TEST_ ones
	// aside, which say where the test databases are).
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "CALLVAULT_") && !strings.HasPrefix(name, "CALLVAULT_TEST_") {
			os.Unsetenv(name)
		}
	}
	code := m.Run()
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// runCLI runs one command line in this process and returns its standard
// output, error and exit status.
func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errb bytes.Buffer
	status = run(t.Context(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), status
}

// serve starts serve on a free loopback port and returns its URL; it stops
// at the end of the test.
func serve(t *testing.T, args ...string) (url string, stdout *bufio.Scanner) {
	t.Helper()
	s := startServer(t, args...)
	return s.url, s.lines
}

// server is a running callvault serve.
type server struct {
	url   string
	lines *bufio.Scanner // its standard output after the "listening" line
	// stop ends it as SIGINT would, waits for it to end and returns its
	// standard error. The test's end stops it too.
	stop func() string
}

// syncBuffer is a bytes.Buffer that a server or process writes while a
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startServer runs serve in this process on a free loopback port.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	// An OS pipe, not io.Pipe: serve goes on writing to standard output
	// (serve --demo's lines) whether or not the test reads them.
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	exited := make(chan int, 1)
	go func() {
		status := run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), strings.NewReader(""), outW, logs)
		outW.Close()
		exited <- status
	}()
	var once sync.Once
	stop := func() string {
		once.Do(func() {
			cancel()
			select {
			case status := <-exited:
				if status != 0 {
					t.Errorf("serve did not stop cleanly: exit status %d\n%s", status, logs.String())
				}
			case <-time.After(15 * time.Second):
				t.Error("serve did not stop within 15 s of its context's end")
			}
			outR.Close()
		})
		return logs.String()
	}
	t.Cleanup(func() { stop() })
	lines := bufio.NewScanner(outR)
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "callvault listening on "); ok {
			url, _, _ := strings.Cut(rest, " ")
			return &server{url: url, lines: lines, stop: stop}
		}
	}
	stop()
	t.Fatalf("serve said nothing of where it listens:\n%s", logs.String())
	return nil
}

func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func record(id string, sessions int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"id":%q,"version":1,"type":"groupCall","modalities":["audio"],"startDateTime":"2026-11-01T10:00:00Z","endDateTime":"2026-11-01T11:00:00Z","lastModifiedDateTime":"2026-11-01T11:05:00Z","sessions":[`, id)
	for i := range sessions {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"s%03d","modalities":["audio"],"startDateTime":"2026-11-01T10:00:00Z","endDateTime":"2026-11-01T11:00:00Z","segments":[{"id":"g","startDateTime":"2026-11-01T10:00:00Z","endDateTime":"2026-11-01T11:00:00Z"}]}`, i)
	}
	b.WriteString("]}")
	return b.String()
}

func TestImportServeTokenAndPage(t *testing.T) {
	data := t.TempDir()
	file := filepath.Join(t.TempDir(), "records.jsonl")
	content := record("rec-1", 130) + "\n" + `{"id":"bad","type":"conference"}` + "\n" + record("rec-2", 2) + "\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}

	out, errs, status := runCLI(t, "", "import", "--data", data, "--tenant", "t1", file)
	if status != 1 {
		t.Errorf("import with a bad record exits %d, want 1", status)
	}
	if !strings.Contains(out, "imported 2 records (2 new, 0 replaced), 132 sessions, 132 segments; 0 stale skipped, 1 rejected") {
		t.Errorf("summary: %s", out)
	}
	if want := file + ":2: $.type: 'conference' is not a member of enum callType"; !strings.Contains(errs, want) {
		t.Errorf("the rejection names file, line, path and reason; stderr:\n%s", errs)
	}
	// Again, from standard input: nothing changes, nothing is rejected.
	out, _, status = runCLI(t, record("rec-2", 2), "import", "--data", data, "--tenant", "t1", "-")
	if status != 0 || !strings.Contains(out, "imported 1 records (0 new, 1 replaced)") {
		t.Errorf("re-import: status %d, %s", status, out)
	}

	url, _ := serve(t, "--data", data, "--public-url", "https://graph.example.test/callvault")
	tokOut, _, status := runCLI(t, "", "token", "--data", data, "--tenant", "t1")
	if status != 0 {
		t.Fatalf("token exits %d", status)
	}
	lines := strings.Split(strings.TrimSpace(tokOut), "\n")
	token := lines[len(lines)-1]

	next := url + "/v1.0/communications/callRecords/rec-1/sessions?$expand=segments"
	var ids []string
	for pages := 0; next != ""; pages++ {
		status, body := get(t, next, token)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", next, status, body)
		}
		var page struct {
			Context  string `json:"@odata.context"`
			NextLink string `json:"@odata.nextLink"`
			Value    []struct {
				ID       string `json:"id"`
				Segments []any  `json:"segments"`
			} `json:"value"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		if page.Context != "https://graph.example.test/callvault/v1.0/$metadata#communications/callRecords('rec-1')/sessions(segments())" {
			t.Errorf("context %s", page.Context)
		}
		for _, s := range page.Value {
			ids = append(ids, s.ID)
			if len(s.Segments) != 1 {
				t.Errorf("session %s has %d segments", s.ID, len(s.Segments))
			}
		}
		next = ""
		if page.NextLink != "" {
			// The link is under --public-url; the test reaches the server directly.
			rest, ok := strings.CutPrefix(page.NextLink, "https://graph.example.test/callvault")
			if !ok {
				t.Fatalf("next link %s is not under the public URL", page.NextLink)
			}
			next = url + rest
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(ids) != 130 || ids[0] != "s000" || ids[129] != "s129" {
		t.Errorf("paged %d sessions: %v…", len(ids), ids[:min(3, len(ids))])
	}

	// A token of another tenant sees nothing.
	other, _, _ := runCLI(t, "", "token", "--data", data, "--tenant", "t2")
	if status, body := get(t, url+"/v1.0/communications/callRecords/rec-1/sessions", strings.TrimSpace(other)); status != 404 {
		t.Errorf("another tenant: %d %s", status, body)
	}
	// A delegated token is refused.
	delegated, _, _ := runCLI(t, "", "token", "--data", data, "--tenant", "t1", "--delegated")
	if status, body := get(t, url+"/v1.0/communications/callRecords/rec-1/sessions", strings.TrimSpace(delegated)); status != 403 {
		t.Errorf("delegated: %d %s", status, body)
	}
}

// demoStart is what one start of serve --demo printed, logged and answered
// to the curl commands it printed.
type demoStart struct {
	logs     string
	sessions struct { // the demo meeting's first page of sessions
		Value    []json.RawMessage `json:"value"`
		NextLink string            `json:"@odata.nextLink"`
	}
	records struct { // the first page of the records over the seeded days
		Count int               `json:"@odata.count"`
		Value []json.RawMessage `json:"value"`
	}
	pstn struct { // getPstnCalls over the seeded days
		Value []json.RawMessage `json:"value"`
	}
}

// startDemo starts serve --demo on data, runs the curl commands it prints
// as a user would, and stops it.
func startDemo(t *testing.T, data string) *demoStart {
	t.Helper()
	s := startServer(t, "--data", data, "--demo")
	var token string
	var curls []string
	found := make(chan struct{})
	go func() {
		defer close(found)
		for len(curls) < 3 && s.lines.Scan() {
			line := s.lines.Text()
			if rest, ok := strings.CutPrefix(line, "export TOKEN="); ok {
				token = rest
			}
			if strings.HasPrefix(line, "curl ") {
				curls = append(curls, line)
			}
		}
	}()
	select {
	case <-found:
	case <-time.After(60 * time.Second):
		t.Fatal("serve --demo printed no token and three curl lines within 60 s")
	}
	if token == "" || len(curls) != 3 {
		t.Fatalf("serve --demo printed token %q and curl lines %q", token, curls)
	}
	d := &demoStart{}
	for i, into := range []any{&d.sessions, &d.records, &d.pstn} {
		// Run the printed line as a user would, with the token exported.
		cmd := exec.CommandContext(context.Background(), "sh", "-c", curls[i])
		cmd.Env = append(os.Environ(), "TOKEN="+token)
		out, err := cmd.Output()
		if err != nil {
			s.stop()
			t.Skipf("curl is not available here: %v", err)
		}
		if err := json.Unmarshal(out, into); err != nil {
			t.Errorf("%s: %v\n%.300s", curls[i], err, out)
		}
	}
	d.logs = s.stop()
	return d
}

func TestServeDemoPrintsATokenAndCurlsThatWork(t *testing.T) {
	data := t.TempDir()
	first := startDemo(t, data)
	if len(first.sessions.Value) != 60 || first.sessions.NextLink == "" {
		t.Errorf("the demo meeting's curl got %d sessions and next link %q", len(first.sessions.Value), first.sessions.NextLink)
	}
	// The default --demo-records, and the demo's named records.
	if want := 500 + synth.DemoNamedRecords; first.records.Count != want || len(first.records.Value) != 60 {
		t.Errorf("the records' curl counts %d records (want %d) and got %d", first.records.Count, want, len(first.records.Value))
	}
	if len(first.pstn.Value) == 0 {
		t.Error("the getPstnCalls curl got no rows")
	}
	if !strings.Contains(first.logs, `msg="seeding demo data"`) || !strings.Contains(first.logs, `msg="demo data seeded"`) {
		t.Errorf("the first start did not log its seeding:\n%s", first.logs)
	}

	// Again on the same data: nothing is imported, nothing doubles.
	second := startDemo(t, data)
	if strings.Contains(second.logs, "seeding demo data") || !strings.Contains(second.logs, "demo data already seeded") {
		t.Errorf("the second start seeded again:\n%s", second.logs)
	}
	if second.records.Count != first.records.Count || len(second.pstn.Value) != len(first.pstn.Value) ||
		len(second.sessions.Value) != 60 {
		t.Errorf("after a restart: %d records, %d PSTN rows, %d sessions; before: %d, %d, 60",
			second.records.Count, len(second.pstn.Value), len(second.sessions.Value), first.records.Count, len(first.pstn.Value))
	}
}

func TestEveryCommandHasCompleteHelp(t *testing.T) {
	for _, c := range commands {
		out, _, status := runCLI(t, "", c.name, "--help")
		if status != 0 {
			t.Errorf("%s --help exits %d", c.name, status)
		}
		fs := c.name
		if !strings.Contains(out, "Usage: callvault "+fs) || !strings.Contains(out, "environment: CALLVAULT_") {
			t.Errorf("%s --help lacks the usage line or the environment variables:\n%s", c.name, out)
		}
	}
	out, _, status := runCLI(t, "", "help")
	if status != 0 || !strings.Contains(out, "serve") || !strings.Contains(out, "import") || !strings.Contains(out, "token") {
		t.Errorf("help: %d %s", status, out)
	}
	if _, errs, status := runCLI(t, "", "import", "--data", t.TempDir()); status != 2 || !strings.Contains(errs, "--tenant is required") {
		t.Errorf("import without --tenant: %d %s", status, errs)
	}
}

func TestFlagsReadTheEnvironment(t *testing.T) {
	data := t.TempDir()
	t.Setenv("CALLVAULT_DATA", data)
	t.Setenv("CALLVAULT_TENANT", "from-env")
	out, errs, status := runCLI(t, "", "token")
	if status != 0 {
		t.Fatalf("token from the environment: exit status %d: %s", status, errs)
	}
	if _, err := os.Stat(filepath.Join(data, "signing-key.pem")); err != nil || len(strings.TrimSpace(string(out))) < 100 {
		t.Errorf("CALLVAULT_DATA was not used: %v %s", err, out)
	}
}

// migrate names the migrations it applied to a SQLite database, and says
// when there were none.
func TestMigrateSaysWhatItApplied(t *testing.T) {
	data := t.TempDir()
	out, errs, status := runCLI(t, "", "migrate", "--data", data)
	if status != 0 || !strings.Contains(out, ": applied 0001_init.sql, 0002_queries.sql, 0003_record_keys.sql") {
		t.Fatalf("first migrate: status %d, %q, %q", status, out, errs)
	}
	out, errs, status = runCLI(t, "", "migrate", "--data", data)
	if status != 0 || !strings.HasSuffix(out, " is up to date\n") {
		t.Errorf("second migrate: status %d, %q, %q", status, out, errs)
	}
}
