package main

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/identity"
	"github.com/callvault/callvault/postgres/pgtest"
	"github.com/golang-jwt/jwt/v5"
)

// TestStatelessReplicasShareKeysAppsAndCA runs two servers, the real binary,
// on one PostgreSQL database with --tls auto, each with a data directory of
// its own that stays empty: an app registered with the database gets a
// token from either and uses it on the other, both serve certificates of the
// database's CA, and a key rotated with 'keys rotate --db' is trusted by
// both at once and signs on both within identity.KeyRefresh.
func TestStatelessReplicasShareKeysAppsAndCA(t *testing.T) {
	dsn := pgtest.DSN(t)
	if _, errs, status := runCLI(t, record("rec-1", 2), "import", "--db", dsn, "--tenant", idTenant, "-"); status != 0 {
		t.Fatalf("import: %s", errs)
	}
	clientID, secret := addApp(t, t.TempDir(), "--db", dsn, "--name", "reader")
	dirA, dirB := t.TempDir(), t.TempDir()
	urlA, _ := serve(t, "--db", dsn, "--data", dirA, "--tls", "auto")
	urlB, _ := serve(t, "--db", dsn, "--data", dirB, "--tls", "auto")

	caPath, errs, status := runCLI(t, "", "ca", "--db", dsn, "--data", t.TempDir())
	if status != 0 {
		t.Fatalf("ca --db: %d %s", status, errs)
	}
	// Verifying every handshake against the database's CA is the test of
	// the chain: a server with a CA of its own fails it.
	_, client := trusting(t, strings.TrimSpace(caPath))
	sessions := "/v1.0/communications/callRecords/rec-1/sessions"

	kidOf := func(token string) string {
		t.Helper()
		tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Header["kid"].(string)
	}
	tokenFrom := func(base string) string {
		t.Helper()
		status, body := fetchToken(t, client, base, clientID, secret)
		token, _ := body["access_token"].(string)
		if status != 200 || token == "" {
			t.Fatalf("token from %s: %d %v", base, status, body)
		}
		return token
	}

	servers := map[string]string{"A": urlA, "B": urlB}
	for from, to := range map[string]string{"A": "B", "B": "A"} {
		token := tokenFrom(servers[from])
		if status, body := getWith(t, client, servers[to]+sessions, token); status != 200 {
			t.Errorf("a token of %s's issuer on %s: %d %s", from, to, status, body)
		}
	}
	before := kidOf(tokenFrom(urlA))

	out, errs, status := runCLI(t, "", "keys", "rotate", "--db", dsn, "--data", t.TempDir())
	newKid := strings.TrimSpace(out)
	if status != 0 || newKid == "" || newKid == before {
		t.Fatalf("keys rotate --db: %d %q %s", status, newKid, errs)
	}
	out, errs, _ = runCLI(t, "", "token", "--db", dsn, "--data", t.TempDir(), "--tenant", idTenant)
	minted := strings.TrimSpace(out)
	if kidOf(minted) != newKid {
		t.Fatalf("token --db after the rotation: kid %s, want %s (%s)", kidOf(minted), newKid, errs)
	}
	for name, base := range servers {
		if status, body := getWith(t, client, base+sessions, minted); status != 200 {
			t.Errorf("a token of the rotated key on %s, at once: %d %s", name, status, body)
		}
	}
	// Each server's issuer signs with the new key once it reads the keys again.
	for name, base := range servers {
		deadline := time.Now().Add(identity.KeyRefresh + 5*time.Second)
		for kidOf(tokenFrom(base)) != newKid {
			if time.Now().After(deadline) {
				t.Fatalf("%s still signs with the old key %s after %s", name, before, identity.KeyRefresh+5*time.Second)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	if out, _, _ := runCLI(t, "", "keys", "list", "--db", dsn, "--data", t.TempDir()); !strings.Contains(out, before+"  ") || !strings.Contains(out, newKid) {
		t.Errorf("keys list --db:\n%s", out)
	}

	for _, dir := range []string{dirA, dirB} {
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Errorf("data directory %s holds %v (%v); want nothing", dir, entries, err)
		}
	}
}

// TestADataDirectorysAppsMoveIntoTheDatabase starts a server on PostgreSQL
// with a data directory whose apps.json was written before the registry
// moved into the database: its apps get tokens from that server, and from
// another one on the database with an empty data directory.
func TestADataDirectorysAppsMoveIntoTheDatabase(t *testing.T) {
	dsn := pgtest.DSN(t)
	if _, errs, status := runCLI(t, record("rec-1", 1), "import", "--db", dsn, "--tenant", idTenant, "-"); status != 0 {
		t.Fatalf("import: %s", errs)
	}
	old := t.TempDir()
	clientID, secret := addApp(t, old, "--name", "from-the-file") // no --db: apps.json
	urlOld, _ := serve(t, "--db", dsn, "--data", old)
	urlNew, _ := serve(t, "--db", dsn, "--data", t.TempDir())
	for name, base := range map[string]string{"the server of the old directory": urlOld, "a server with an empty one": urlNew} {
		status, body := fetchToken(t, http.DefaultClient, base, clientID, secret)
		token, _ := body["access_token"].(string)
		if status != 200 || token == "" {
			t.Errorf("%s: token %d %v", name, status, body)
			continue
		}
		if status, body := get(t, base+"/v1.0/communications/callRecords/rec-1/sessions", token); status != 200 {
			t.Errorf("%s: %d %s", name, status, body)
		}
	}
	if out, _, _ := runCLI(t, "", "app", "list", "--db", dsn, "--data", t.TempDir()); !strings.Contains(out, clientID) {
		t.Errorf("app list --db does not list the imported app:\n%s", out)
	}
}
