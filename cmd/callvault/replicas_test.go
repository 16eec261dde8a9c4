package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/callvault/callvault/callvaulttest"
	"github.com/callvault/callvault/postgres/pgtest"
	"github.com/callvault/callvault/synth"
)

// TestReplicasOnOnePostgres runs two servers on one
// PostgreSQL database, each with a data directory of its own: a token
// minted from the database works on both, they give identical pages, and a
// next link from one is followed on the other.
func TestReplicasOnOnePostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	file := filepath.Join(t.TempDir(), "records.jsonl")
	if err := os.WriteFile(file, []byte(record("rec-1", 130)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errs, status := runCLI(t, "", "import", "--db", dsn, "--tenant", "t1", file); status != 0 {
		t.Fatalf("import exits %d: %s%s", status, out, errs)
	}

	// Both servers pose as one public URL, as behind a load balancer.
	const public = "https://graph.example.test"
	dirA, dirB := t.TempDir(), t.TempDir()
	urlA, _ := serve(t, "--db", dsn, "--data", dirA, "--public-url", public)
	urlB, _ := serve(t, "--db", dsn, "--data", dirB, "--public-url", public)

	out, errs, status := runCLI(t, "", "token", "--db", dsn, "--data", t.TempDir(), "--tenant", "t1")
	if status != 0 {
		t.Fatalf("token exits %d: %s", status, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	token := lines[len(lines)-1]

	// page fetches a page from server base, a link under the public URL.
	page := func(base, link string) (body []byte, next string) {
		t.Helper()
		rest, ok := strings.CutPrefix(link, public)
		if !ok {
			t.Fatalf("link %s is not under the public URL", link)
		}
		status, body := get(t, base+rest, token)
		if status != 200 {
			t.Fatalf("GET %s%s: %d %s", base, rest, status, body)
		}
		var p struct {
			NextLink string `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return body, p.NextLink
	}

	first := public + "/v1.0/communications/callRecords/rec-1/sessions?$expand=segments"
	bodyA, nextA := page(urlA, first)
	bodyB, nextB := page(urlB, first)
	if !bytes.Equal(bodyA, bodyB) {
		t.Errorf("the first page differs between the servers:\nA: %.300s\nB: %.300s", bodyA, bodyB)
	}
	if nextA == "" || nextA != nextB {
		t.Fatalf("next links: A %q, B %q; want one and the same", nextA, nextB)
	}
	// A's next link, followed on B and on A.
	onB, _ := page(urlB, nextA)
	onA, _ := page(urlA, nextA)
	if !bytes.Equal(onA, onB) {
		t.Errorf("A's next link gives different pages:\non A: %.300s\non B: %.300s", onA, onB)
	}

	// A walk that alternates between the servers sees every session once.
	var ids []string
	link := first
	for i := 0; link != ""; i++ {
		base := urlA
		if i%2 == 1 {
			base = urlB
		}
		body, next := page(base, link)
		var p struct {
			Value []struct{ ID string } `json:"value"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Value {
			ids = append(ids, s.ID)
		}
		link = next
		if i > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(ids) != 130 || ids[0] != "s000" || ids[129] != "s129" {
		t.Errorf("walked %d sessions: %v…", len(ids), ids[:min(3, len(ids))])
	}

	// Neither server kept anything in its data directory: it is all in the
	// database.
	for _, dir := range []string{dirA, dirB} {
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Errorf("data directory %s holds %v (%v); want nothing", dir, entries, err)
		}
	}
}

// TestPostgresServesWhatSQLiteServes loads the demo data into a server on
// SQLite and one on PostgreSQL and compares their answers byte for byte,
// every page of each list: the stores differ, the wire does not. Only the
// $skiptoken values differ, as each server seals them with its own key.
func TestPostgresServesWhatSQLiteServes(t *testing.T) {
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	const public = "https://graph.example.test"
	// Both seed the same demo data (the day's, unless the test straddles
	// midnight UTC): the reference on SQLite is callvaulttest's, as serve
	// --demo would seed it, since its serve is not what this test checks.
	onSQLite := callvaulttest.Start(t, callvaulttest.Options{Dir: dir, Demo: true, DemoRecords: 100, PublicURL: public}).URL
	onPostgres, _ := serve(t, "--db", dsn, "--data", t.TempDir(), "--demo", "--demo-records", "100", "--public-url", public)
	token := func(args ...string) string {
		out, errs, status := runCLI(t, "", append([]string{"token", "--tenant", synth.DemoTenant}, args...)...)
		if status != 0 {
			t.Fatalf("token exits %d: %s", status, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[len(lines)-1]
	}
	sqliteToken, postgresToken := token("--data", dir), token("--db", dsn)
	// Report rows too, from the graph package's test data.
	for _, f := range []struct{ kind, file string }{
		{"pstnCallLogRow", "../../graph/testdata/pstn.jsonl"},
		{"directRoutingLogRow", "../../graph/testdata/direct.jsonl"},
	} {
		for _, where := range [][]string{{"--data", dir}, {"--db", dsn}} {
			args := append([]string{"import", "--tenant", synth.DemoTenant, "--type", f.kind}, where...)
			if out, errs, status := runCLI(t, "", append(args, f.file)...); status != 0 {
				t.Fatalf("import %s %v exits %d: %s%s", f.file, where, status, out, errs)
			}
		}
	}

	// walk returns every page of a list from one server, following its own
	// next links.
	walk := func(base, token, path string) (pages [][]byte) {
		t.Helper()
		link := public + path
		for link != "" {
			rest := strings.ReplaceAll(strings.TrimPrefix(link, public), " ", "%20")
			status, body := get(t, base+rest, token)
			if status != 200 {
				t.Fatalf("GET %s%s: %d %s", base, rest, status, body)
			}
			pages = append(pages, body)
			var p struct {
				NextLink string `json:"@odata.nextLink"`
			}
			json.Unmarshal(body, &p)
			link = p.NextLink
			if len(pages) > 50 {
				t.Fatalf("GET %s: paging does not end", path)
			}
		}
		return pages
	}

	skiptoken := regexp.MustCompile(`\$skiptoken=[A-Za-z0-9_-]+`)
	record := "/communications/callRecords/" + synth.DemoMeetingID
	for _, path := range []string{
		"/v1.0/communications/callRecords?$count=true",
		"/beta/communications/callRecords?$select=id,startDateTime&$filter=startDateTime ge 2020-02-25T00:00:00Z",
		"/v1.0" + record + "/sessions?$expand=segments&$count=true",
		"/beta" + record + "/sessions?$select=id,modalities",
		"/beta" + record + "?$expand=participants_v2",
		"/beta" + record + "/participants_v2",
		"/v1.0" + record + "/sessions/$count",
		"/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2019-11-01,toDateTime=2019-12-01)",
		"/beta/communications/callRecords/getDirectRoutingCalls(fromDateTime=2019-11-01T00:00:00Z,toDateTime=2019-12-01T00:00:00Z)",
	} {
		want := walk(onSQLite, sqliteToken, path)
		got := walk(onPostgres, postgresToken, path)
		if len(got) != len(want) {
			t.Errorf("GET %s: %d pages from PostgreSQL, %d from SQLite", path, len(got), len(want))
			continue
		}
		for i := range want {
			if !bytes.Equal(skiptoken.ReplaceAll(got[i], nil), skiptoken.ReplaceAll(want[i], nil)) {
				t.Errorf("GET %s page %d:\nPostgreSQL: %.400s\nSQLite:     %.400s", path, i+1, got[i], want[i])
			}
		}
	}
}
