package main

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/callvault/callvault/postgres"
)

var migrateCommand = command{
	name:    "migrate",
	summary: "bring the database's schema up to date",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &migrateConfig{}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose SQLite database to migrate, without --db (created if missing)")
		fs.StringVar(&c.db, "db", "", "the PostgreSQL database to migrate, as serve's --db `URL`")
		describe(fs, "callvault migrate [--db URL | --data DIR]", `
Applies the schema migrations the database lacks, and says which. serve and
import apply them too when they start, so migrate is for deploying a new
version before its servers start, or for a database user that may change
the schema when the servers' may not.

Migrations are recorded in the table schema_migrations. Servers and migrate
runs that start at the same time on one PostgreSQL database take turns on a
row lock (schema_migrations_lock), so each migration is applied once.`)
		return c.run
	},
}

type migrateConfig struct {
	data, db string
}

func (c *migrateConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	if c.db == "" {
		// Opening the SQLite database migrates it.
		store, err := openStore(ctx, c.data, "")
		if err != nil {
			return err
		}
		applied := appliedMigrations(store)
		if err := store.Close(); err != nil {
			return err
		}
		file := filepath.Join(c.data, databaseFile)
		if len(applied) == 0 {
			fmt.Fprintf(std.out, "the SQLite database %s is up to date\n", file)
			return nil
		}
		fmt.Fprintf(std.out, "the SQLite database %s: applied %s\n", file, strings.Join(applied, ", "))
		return nil
	}
	if !isPostgresDSN(c.db) {
		return fmt.Errorf("%w: --db %q is not a postgres:// URL", errUsage, postgres.Redact(c.db))
	}
	applied, err := postgres.Migrate(ctx, c.db)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(std.out, "%s is up to date\n", postgres.Redact(c.db))
		return nil
	}
	fmt.Fprintf(std.out, "%s: applied %s\n", postgres.Redact(c.db), strings.Join(applied, ", "))
	return nil
}
