package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/postgres/pgtest"
)

const mirrorTenant = "4f1a2b3c-0000-4000-8000-00000000a11c"

// source is a callvault over https, as the mirror's Graph.
type source struct {
	*server
	data  string
	ca    string
	env   []string // AZURE_* of an app registered on it
	token string   // a token of its tenant
}

// startSource serves generated records (with revisions, meetings, PSTN
// rows) over https with the local CA, with extra serve flags.
func startSource(t *testing.T, records int, extra ...string) *source {
	t.Helper()
	realBinary(t) // the mirror runs as a process of its own, which the tests stop or kill
	s := &source{data: t.TempDir()}
	dir := t.TempDir()
	to := time.Now().UTC().Truncate(24 * time.Hour)
	from := to.Add(-6 * 24 * time.Hour)
	file := filepath.Join(dir, "calls.jsonl")
	if _, errs, status := runCLI(t, "", "generate", "--tenant", mirrorTenant, "--records", fmt.Sprint(records), "--seed", "11",
		"--from", from.Format(time.DateOnly), "--to", to.Format(time.DateOnly), "--out", file, "--reports", dir, "--progress", "0"); status != 0 {
		t.Fatalf("generate: %s", errs)
	}
	// A meeting of 150 sessions and 140 participants: three pages of
	// sessions and two of participants to follow.
	big := strings.Replace(record("big-meeting", 150), "2026-11-01", from.Add(24*time.Hour).Format(time.DateOnly), -1)
	var participants []string
	for i := range 140 {
		participants = append(participants, fmt.Sprintf(`{"id":"p%03d","identity":{"user":{"id":"u%03d","displayName":"Participant %d"}}}`, i, i, i))
	}
	big = strings.Replace(big, `"sessions":[`, `"participants_v2":[`+strings.Join(participants, ",")+`],"sessions":[`, 1)
	os.WriteFile(filepath.Join(dir, "big.jsonl"), []byte(big+"\n"), 0o600)
	for _, f := range []string{file, filepath.Join(dir, "big.jsonl"), filepath.Join(dir, "pstnCalls.jsonl"), filepath.Join(dir, "directRoutingCalls.jsonl")} {
		if _, errs, status := runCLI(t, "", "import", "--data", s.data, "--tenant", mirrorTenant, "--progress", "0", f); status != 0 {
			t.Fatalf("import %s: %s", f, errs)
		}
	}
	// A record from a newer schema than callvault's: Graph's own would
	// serve such, and the mirror must keep it whole.
	drifted := strings.Replace(record("drifted-record", 3), "2026-11-01", from.Add(24*time.Hour).Format(time.DateOnly), -1)
	drifted = strings.Replace(drifted, `"type":"groupCall"`, `"type":"groupCall","aiSummaryState":"ready"`, 1)
	drifted = strings.Replace(drifted, `{"id":"s000","modalities":["audio"]`, `{"id":"s000","modalities":["audio","hologram"],"satelliteLink":{"orbit":"leo"}`, 1)
	os.WriteFile(filepath.Join(dir, "drifted.jsonl"), []byte(drifted+"\n"), 0o600)
	if _, errs, status := runCLI(t, "", "import", "--data", s.data, "--tenant", mirrorTenant, "--progress", "0", "--lenient", filepath.Join(dir, "drifted.jsonl")); status != 0 {
		t.Fatalf("import --lenient: %s", errs)
	}
	out, errs, status := runCLI(t, "", "app", "add", "--data", s.data, "--tenant", mirrorTenant, "--name", "mirror",
		"--roles", "CallRecords.Read.All,CallRecord-PstnCalls.Read.All")
	if status != 0 {
		t.Fatalf("app add: %s", errs)
	}
	s.env = strings.Fields(out)
	s.server = startServer(t, append([]string{"--data", s.data, "--tls", "auto"}, extra...)...)
	ca, _, _ := runCLI(t, "", "ca", "--data", s.data)
	s.ca = strings.TrimSpace(ca)
	s.token = mintToken(t, []string{"--data", s.data}, mirrorTenant)
	return s
}

// mirrorCmd returns the mirror command from s into the store args name, of
// the real binary: the tests stop it as an operator would, or kill it.
func (s *source) mirrorCmd(t *testing.T, store []string, extra ...string) *exec.Cmd {
	args := append([]string{"mirror", "--source", s.url + "/beta", "--authority", s.url + "/", "--source-ca", s.ca, "--progress", "0"}, store...)
	cmd := exec.Command(realBinary(t), append(args, extra...)...)
	cmd.Env = append(append(os.Environ(), "CALLVAULT_DATA=", "CALLVAULT_DB="), s.env...)
	return cmd
}

// public is the URL the source writes in its links: serve --tls auto's
// certificate and default public URL name localhost.
func (s *source) public() string { return strings.Replace(s.url, "127.0.0.1", "localhost", 1) }

// client trusts the source's CA.
func (s *source) client(t *testing.T) *http.Client {
	pem, err := os.ReadFile(s.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

var skiptoken = regexp.MustCompile(`\$skiptoken=[^"&]*`)

// fetchAll GETs path and every page after it, and returns the bodies with
// their base URL and skiptokens (sealed with each server's own key) made
// alike.
func fetchAll(t *testing.T, c *http.Client, base, public, token, path string) []string {
	t.Helper()
	var pages []string
	next := base + path
	for next != "" && len(pages) < 100 {
		req, _ := http.NewRequest("GET", next, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", next, resp.StatusCode, body)
		}
		var p struct {
			Next string `json:"@odata.nextLink"`
		}
		json.Unmarshal(body, &p)
		next = strings.Replace(p.Next, public, base, 1)
		if strings.Contains(next, "/sessions?") || strings.Contains(next, "/participants_v2?") || strings.Contains(next, "callRecords?") || strings.Contains(next, "Calls(") {
			// follow the collection's own pages
		} else {
			next = ""
		}
		pages = append(pages, skiptoken.ReplaceAllString(strings.ReplaceAll(string(body), public, "BASE"), "$$skiptoken=…"))
	}
	return pages
}

// compareMirror checks that every record, every page of its sessions and
// participants, and the report rows are served by the mirror's store as
// the source serves them.
func compareMirror(t *testing.T, src *source, mirrorBase, mirrorToken string) int {
	t.Helper()
	sc := src.client(t)
	var list struct {
		Value []struct{ ID string }
	}
	var ids []string
	for _, page := range fetchAll(t, sc, src.url, src.public(), src.token, "/beta/communications/callRecords?$select=id") {
		json.Unmarshal([]byte(page), &list)
		for _, r := range list.Value {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) < 20 {
		t.Fatalf("the source lists %d records", len(ids))
	}
	to := time.Now().UTC().Add(24 * time.Hour).Truncate(24 * time.Hour)
	from := to.Add(-8 * 24 * time.Hour)
	paths := []string{
		"/beta/communications/callRecords?$count=true",
		fmt.Sprintf("/beta/communications/callRecords/getPstnCalls(fromDateTime=%s,toDateTime=%s)", from.Format(time.RFC3339), to.Format(time.RFC3339)),
		fmt.Sprintf("/beta/communications/callRecords/getDirectRoutingCalls(fromDateTime=%s,toDateTime=%s)", from.Format(time.RFC3339), to.Format(time.RFC3339)),
	}
	for _, id := range ids {
		paths = append(paths,
			"/beta/communications/callRecords/"+id+"?$expand=sessions($expand=segments),participants_v2",
			"/beta/communications/callRecords/"+id+"/sessions?$expand=segments",
			"/beta/communications/callRecords/"+id+"/participants_v2",
			"/v1.0/communications/callRecords/"+id+"/sessions?$expand=segments")
	}
	differ := 0
	for _, p := range paths {
		a := fetchAll(t, sc, src.url, src.public(), src.token, p)
		b := fetchAll(t, http.DefaultClient, mirrorBase, src.public(), mirrorToken, p)
		if strings.Join(a, "\n") != strings.Join(b, "\n") {
			differ++
			if differ <= 3 {
				t.Errorf("%s differs between the source and the mirror:\nsource %.400s\nmirror %.400s", p, strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
		}
	}
	if differ > 0 {
		t.Errorf("%d of %d responses differ", differ, len(paths))
	}
	return len(ids)
}

// TestMirrorOnceCopiesEverythingAsTheSourceServesIt: a backfill from a
// source that throttles as Graph does, then every response compared.
func TestMirrorOnceCopiesEverythingAsTheSourceServesIt(t *testing.T) {
	src := startSource(t, 300, "--throttle", "graph")
	dst := t.TempDir()
	cmd := src.mirrorCmd(t, []string{"--data", dst}, "--once", "--since", "192h")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("mirror: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "mirrored ") || !strings.Contains(out.String(), " 0 parked, 1 with schema drift") {
		t.Errorf("the summary:\n%s", out.String())
	}
	drift, errs, status := runCLI(t, "", "schema", "drift", "--data", dst)
	for _, want := range []string{"property  microsoft.graph.callRecords.callRecord  aiSummaryState", "member    microsoft.graph.callRecords.modality    hologram", "satelliteLink", "drifted-record", "3 names kept"} {
		if status != 0 || !strings.Contains(drift, want) {
			t.Errorf("schema drift (status %d) lacks %q:\n%s%s", status, want, drift, errs)
		}
	}
	srv := startServer(t, "--data", dst, "--public-url", src.public())
	mirrorToken := mintToken(t, []string{"--data", dst}, mirrorTenant)
	n := compareMirror(t, src, srv.url, mirrorToken)
	t.Logf("%d records compared; mirror said: %s", n, strings.TrimSpace(lastLine(out.String())))
	// Every page of a big meeting's participants came across.
	if page := strings.Join(fetchAll(t, http.DefaultClient, srv.url, src.public(), mirrorToken, "/beta/communications/callRecords/big-meeting/participants_v2"), ""); !strings.Contains(page, `"id":"p000"`) || !strings.Contains(page, `"id":"p139"`) {
		t.Errorf("the mirror lacks some of the big meeting's 140 participants:\n%.300s", page)
	}
	// The same on both sides, and not by dropping the drift on both.
	page := fetchAll(t, http.DefaultClient, srv.url, src.public(), mirrorToken, "/beta/communications/callRecords/drifted-record?$expand=sessions")
	for _, want := range []string{`"aiSummaryState":"ready"`, `"satelliteLink":{"orbit":"leo"}`, `"modalities":["audio","unknownFutureValue"]`} {
		if !strings.Contains(strings.Join(page, ""), want) {
			t.Errorf("the mirror's drifted record lacks %s:\n%s", want, page)
		}
	}

	// Again: nothing changed on the source, so nothing is fetched.
	cmd = src.mirrorCmd(t, []string{"--data", dst}, "--once", "--since", "192h")
	out.Reset()
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("mirror again: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "mirrored 0 records") {
		t.Errorf("a second run fetched records again:\n%s", out.String())
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// TestMirrorThroughFaults: a source that fails one request in three (429s
// with and without fractional Retry-After, 5xx, empty-message 403/404,
// dropped connections) is still mirrored whole.
func TestMirrorThroughFaults(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "faults.json")
	os.WriteFile(profile, []byte(`{"seed": 7, "rules": [{"name": "everything", "route": "**", "faults": [
		{"rate": 0.06, "status": 429, "retryAfter": "1"},
		{"rate": 0.04, "status": 429, "retryAfter": "0.2"},
		{"rate": 0.04, "status": 500},
		{"rate": 0.04, "status": 503},
		{"rate": 0.04, "status": 503, "retryAfter": "0.1"},
		{"rate": 0.04, "status": 504},
		{"rate": 0.03, "status": 404, "code": "NotFound", "message": ""},
		{"rate": 0.03, "drop": true}]}]}`), 0o600)
	src := startSource(t, 80, "--faults", profile)
	dst := t.TempDir()
	cmd := src.mirrorCmd(t, []string{"--data", dst}, "--once", "--since", "192h")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("mirror: %v\n%s", err, out.String())
	}
	t.Logf("mirror said: %s", lastLine(out.String()))
	// Compare on a source without faults: the same data directory.
	src.server.stop()
	src.server = startServer(t, "--data", src.data, "--tls", "auto")
	srv := startServer(t, "--data", dst, "--public-url", src.public())
	compareMirror(t, src, srv.url, mintToken(t, []string{"--data", dst}, mirrorTenant))
}

// TestTwoMirrorsShareOnePostgres: two mirror processes on one database
// fetch every record, none twice.
func TestTwoMirrorsShareOnePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	src := startSource(t, 200)
	var outs [2]bytes.Buffer
	var cmds [2]*exec.Cmd
	for i := range cmds {
		cmds[i] = src.mirrorCmd(t, []string{"--db", dsn, "--data", t.TempDir()}, "--once", "--since", "192h", "--reports=false")
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("mirror %d: %v\n%s", i, err, outs[i].String())
		}
		t.Logf("mirror %d: %s", i, lastLine(outs[i].String()))
	}
	// Every record was fetched by one of them exactly once: the source's
	// access log has one GET of each record whole.
	logs := src.server.stop()
	fetches := map[string]int{}
	re := regexp.MustCompile(`path=/beta/communications/callRecords/([0-9a-zA-Z-]+) query="\$expand=sessions`)
	for _, m := range re.FindAllStringSubmatch(logs, -1) {
		fetches[m[1]]++
	}
	if len(fetches) < 150 {
		t.Fatalf("the source served %d whole records", len(fetches))
	}
	for id, n := range fetches {
		if n != 1 {
			t.Errorf("record %s was fetched %d times", id, n)
		}
	}
	src.server = startServer(t, "--data", src.data, "--tls", "auto")
	srv := startServer(t, "--db", dsn, "--data", t.TempDir(), "--public-url", src.public())
	token := mintToken(t, []string{"--db", dsn, "--data", t.TempDir()}, mirrorTenant)
	status, body := get(t, srv.url+"/beta/communications/callRecords/$count", token)
	if status != 200 || strings.TrimSpace(string(body)) != fmt.Sprint(len(fetches)) {
		t.Errorf("the mirror's store has %s records (%d), want %d", body, status, len(fetches))
	}
}

// TestMirrorFollowsTheSourcesNotifications: a following mirror subscribes
// on the source; a record created and then updated there reaches the
// mirror's store within seconds, though no sweep runs in the meantime.
func TestMirrorFollowsTheSourcesNotifications(t *testing.T) {
	src := startSource(t, 20, "--allow-http-webhooks")
	dst := t.TempDir()
	inbox := startServer(t, "--data", dst, "--mirror-inbox")
	cmd := src.mirrorCmd(t, []string{"--data", dst}, "--since", "192h", "--interval", "1h", "--lookback", "1h",
		"--notify-url", inbox.url+"/mirror/v1/notifications", "--metrics-addr", "127.0.0.1:0")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		t.Logf("mirror log:\n%s", logs.String())
	}()
	waitUntil(t, "the mirror subscribed", func() bool { return strings.Contains(logs.String(), "subscribed to the source's notifications") })

	token := mintToken(t, []string{"--data", dst}, mirrorTenant)
	recordOn := func(version int) {
		file := filepath.Join(t.TempDir(), "new.jsonl")
		os.WriteFile(file, []byte(versioned("fresh-call", version)+"\n"), 0o600)
		if _, errs, status := runCLI(t, "", "import", "--data", src.data, "--tenant", mirrorTenant, "--progress", "0", file); status != 0 {
			t.Fatalf("import on the source: %s", errs)
		}
	}
	recordOn(1)
	waitUntil(t, "the new record reached the mirror", func() bool {
		status, _ := get(t, inbox.url+"/beta/communications/callRecords/fresh-call", token)
		return status == 200
	})
	recordOn(2)
	waitUntil(t, "the update reached the mirror", func() bool {
		_, body := get(t, inbox.url+"/beta/communications/callRecords/fresh-call?$select=version", token)
		return strings.Contains(string(body), `"version":2`)
	})

	// What it did, for Prometheus.
	m := regexp.MustCompile(`callvault metrics on (http://127\.0\.0\.1:\d+/metrics)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("the mirror printed no metrics URL:\n%s", logs.String())
	}
	_, body := get(t, m[1], "")
	for _, want := range []string{
		`callvault_mirror_records_total{outcome="replaced"} 1` + "\n",
		`callvault_mirror_backlog{state="parked"} 0` + "\n",
		`callvault_mirror_drifted_records_total 1` + "\n",
		"callvault_mirror_requests_total ", "callvault_mirror_lag_seconds ", "callvault_build_info{",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the mirror's metrics lack %q:\n%s", want, body)
		}
	}
}

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
