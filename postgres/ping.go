package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"path"
)

// Ping checks that the database answers and that schema_migrations lists
// every migration of this build (callvault.Pinger).
func (db *DB) Ping(ctx context.Context) (err error) {
	defer wrap(&err, "postgres: ping")
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	applied, err := db.appliedMigrations(ctx, db.pool)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !applied[n] && !applied[path.Base(n)] {
			return fmt.Errorf("the database lacks migration %s of this build: run callvault migrate", path.Base(n))
		}
	}
	return nil
}
