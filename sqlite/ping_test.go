package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestPingSaysWhetherTheSchemaIsThisBuilds(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("a freshly migrated database: %v", err)
	}
	if _, err := db.write.ExecContext(ctx, `DELETE FROM schema_migrations WHERE name = (SELECT MAX(name) FROM schema_migrations)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(ctx); err == nil || !strings.Contains(err.Error(), "callvault migrate") {
		t.Errorf("a database a migration behind: %v", err)
	}
}
