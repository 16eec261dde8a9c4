package postgres

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/callvault/callvault/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestCockroachDialect checks that the migrations as CockroachDB gets them
// have no collation left and are still valid SQL (here, PostgreSQL's).
func TestCockroachDialect(t *testing.T) {
	dsn := pgtest.DSN(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		buf, err := fs.ReadFile(migrationFS, name)
		if err != nil {
			t.Fatal(err)
		}
		sql := dialect(string(buf), true)
		if strings.Contains(strings.ToUpper(sql), "COLLATE") {
			t.Errorf("%s still has a COLLATE clause for CockroachDB", name)
		}
		if _, err := conn.Exec(t.Context(), sql); err != nil {
			t.Errorf("%s without its collations: %v", name, err)
		}
	}
}
