package sqlite

import (
	"context"
	"fmt"
	"io/fs"
)

// Ping checks that a reader connection answers and that schema_migrations
// lists every migration of this build (callvault.Pinger).
func (db *DB) Ping(ctx context.Context) (err error) {
	defer wrap(&err, "sqlite: ping")
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		return err
	}
	if n < len(names) {
		return fmt.Errorf("the database has %d of this build's %d migrations: run callvault migrate", n, len(names))
	}
	return nil
}
