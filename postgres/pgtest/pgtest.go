// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema on the server that CALLVAULT_TEST_POSTGRES names, dropped when the
// test ends, so that test runs in parallel never see each other's tables.
//
// Without CALLVAULT_TEST_POSTGRES the tests skip, and say how to enable
// them; under CI (CI=true) they fail instead, so that CI never passes
// without having run them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable that holds the connection string
// of the server the tests use.
const EnvDSN = "CALLVAULT_TEST_POSTGRES"

// ExampleDSN is a connection string for the server the development machine
// runs, as .ci/run sets it.
const ExampleDSN = "postgres://root@127.0.0.1:5432/test?sslmode=disable"

// DSN returns a connection string whose search_path is a new, empty schema,
// dropped (with everything in it) when tb ends. It skips tb when no server
// is configured, or fails it under CI.
func DSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(EnvDSN)
	if base == "" {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			tb.Fatalf("%s is not set, and CI=true: PostgreSQL tests must run under CI (.ci/run sets it)", EnvDSN)
		}
		tb.Skipf("PostgreSQL tests are skipped: set %s=%s (a server's connection string) to run them", EnvDSN, ExampleDSN)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to %s (%s): %v", EnvDSN, redact(base), err)
	}
	defer conn.Close(ctx)

	var b [6]byte
	rand.Read(b[:])
	schema := "callvault_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(base, schema)
}

// WithSearchPath returns dsn, a URL or keyword=value connection string,
// with its search_path set to schema.
func WithSearchPath(dsn, schema string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(dsn) + " search_path=" + schema
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "a keyword=value string"
}
