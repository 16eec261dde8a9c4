package postgres_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/postgres/pgtest"
)

// TestLargeValuesCompressWithLZ4 checks that the bodies the store writes
// past TOAST's threshold are compressed with lz4 where the server has it,
// by either write path, and that a default_toast_compression in the
// connection string is the operator's.
func TestLargeValuesCompressWithLZ4(t *testing.T) {
	dsn := pgtest.DSN(t)
	check := connect(t, dsn)
	want := "lz4"
	if _, err := check.Exec(t.Context(), "SET default_toast_compression = lz4"); err != nil {
		// Before PostgreSQL 14, or built without lz4: the store keeps the default.
		t.Logf("this server has no lz4 (%v): the store must keep pglz", err)
		want = "pglz"
	}
	// About 10 KB of JSON that compresses well, as a segment's body does.
	body := []byte(`{"media":[` + strings.Repeat(`{"label":"main-audio","streams":null},`, 260) + `{}]}`)
	record := func(id string) *callvault.Record {
		return &callvault.Record{Tenant: "lz4", ID: id, Version: 1, Body: body,
			Sessions: []callvault.Session{{ID: "s", Body: body, Segments: []callvault.Segment{{ID: "g", Body: body}}}}}
	}
	compression := func(t *testing.T, id string) string {
		t.Helper()
		var got string
		err := check.QueryRow(t.Context(), `SELECT pg_column_compression(s.body) || '/' || pg_column_compression(g.body)
			FROM sessions AS s JOIN segments AS g ON g.tenant = s.tenant AND g.record_id = s.record_id
			WHERE s.tenant = 'lz4' AND s.record_id = $1`, id).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	db := openClosed(t, dsn)
	if _, err := db.PutRecord(t.Context(), record("one")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.PutRecords(t.Context(), []*callvault.Record{record("two")}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"one", "two"} {
		if got := compression(t, id); got != want+"/"+want {
			t.Errorf("record %s: sessions' and segments' bodies compressed %s; want %s for both", id, got, want)
		}
	}

	// The connection string's setting stands.
	operator := openClosed(t, dsn+"&default_toast_compression=pglz")
	if _, err := operator.PutRecord(t.Context(), record("three")); err != nil {
		t.Fatal(err)
	}
	if got := compression(t, "three"); got != "pglz/pglz" {
		t.Errorf("with default_toast_compression=pglz in the connection string: compressed %s; want pglz/pglz", got)
	}
}

func Example_serverMajor() {
	for _, v := range []string{"15.20 (Debian 15.20-0+deb12u1)", "17beta1", "9.6.24", "13.0.0", "", "x"} {
		fmt.Printf("%q %d\n", v, postgres.ServerMajor(v))
	}
	// Output:
	// "15.20 (Debian 15.20-0+deb12u1)" 15
	// "17beta1" 17
	// "9.6.24" 9
	// "13.0.0" 13
	// "" 0
	// "x" 0
}
