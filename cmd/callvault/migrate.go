package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/postgres"
)

var migrateCommand = command{
	name:    "migrate",
	summary: "bring the database's schema up to date",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &migrateConfig{}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose SQLite database to migrate, without --db (created if missing)")
		fs.StringVar(&c.db, "db", "", "the PostgreSQL database to migrate, as serve's --db `URL`")
		fs.BoolVar(&c.scripts, "scripts", false, "also give every session and segment the render scripts of this build: rows stored before\nrender scripts existed, or by a build whose schema differs, are otherwise served by the slower merge")
		fs.DurationVar(&c.every, "progress", 2*time.Second, "how often --scripts reports progress on standard error; 0 turns it off")
		fs.BoolVar(&c.partition, "partition", false, "with --db: move the call records, sessions, segments and participants into monthly time partitions\n(PostgreSQL only; resumable; stop imports, ingest and mirrors first; docs/scaling.md)")
		fs.BoolVar(&c.quality, "quality", true, "classify the call quality of records stored before this build classified them at import (resumable)")
		describe(fs, "callvault migrate [--db URL | --data DIR] [--scripts]", `
Applies the schema migrations the database lacks, and says which. serve and
import apply them too when they start, so migrate is for deploying a new
version before its servers start, or for a database user that may change
the schema when the servers' may not.

Migrations are recorded in the table schema_migrations. Servers and migrate
runs that start at the same time on one PostgreSQL database take turns on a
row lock (schema_migrations_lock), so each migration is applied once.

With --scripts, migrate then reads every session and segment of every
tenant and stores beside each body the render scripts this build's import
would store: precompiled default responses that serve copies instead of
merging the body with the schema (several times faster). Rows imported
before the scripts existed, or by a build whose schema or script format
differs (whose scripts this build refuses), are served correctly without
them, but slowly. Rows that already have this build's scripts are left
alone, so a second run changes nothing, and an interrupted run can be run
again. It works in chunks of a few hundred rows, one short write
transaction each, so servers and imports may run meanwhile. Progress goes
to standard error; a summary (rows read, rows given scripts, time) ends the
run.`)
		return c.run
	},
}

type migrateConfig struct {
	data, db  string
	scripts   bool
	quality   bool
	partition bool // move the record tables into time partitions
	every     time.Duration
}

func (c *migrateConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	if c.db == "" && c.partition {
		return fmt.Errorf("%w: --partition needs --db: SQLite keeps one table set", errUsage)
	}
	if c.db == "" {
		// Opening the SQLite database migrates it.
		store, err := openStore(ctx, c.data, "")
		if err != nil {
			return err
		}
		applied := appliedMigrations(store)
		file := filepath.Join(c.data, databaseFile)
		if len(applied) == 0 {
			fmt.Fprintf(std.out, "the SQLite database %s is up to date\n", file)
		} else {
			fmt.Fprintf(std.out, "the SQLite database %s: applied %s\n", file, strings.Join(applied, ", "))
		}
		if c.scripts {
			if err := c.compileScripts(ctx, store, std); err != nil {
				store.Close()
				return err
			}
		}
		if err := c.fillQuality(ctx, store, std); err != nil {
			store.Close()
			return err
		}
		return store.Close()
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
	} else {
		fmt.Fprintf(std.out, "%s: applied %s\n", postgres.Redact(c.db), strings.Join(applied, ", "))
	}
	if c.partition {
		if err := c.partitionTables(ctx, std); err != nil {
			return err
		}
	}
	if !c.scripts && !c.quality {
		return nil
	}
	store, err := openStore(ctx, "", c.db)
	if err != nil {
		return err
	}
	if c.scripts {
		if err := c.compileScripts(ctx, store, std); err != nil {
			store.Close()
			return err
		}
	}
	if err := c.fillQuality(ctx, store, std); err != nil {
		store.Close()
		return err
	}
	return store.Close()
}

// compileScripts gives the store's sessions and segments this build's
// render scripts (--scripts).
func (c *migrateConfig) compileScripts(ctx context.Context, store callvault.Store, std stdio) error {
	sc, ok := store.(callvault.ScriptCompiler)
	if !ok {
		return fmt.Errorf("--scripts: the %T store cannot compile render scripts", store)
	}
	start := time.Now()
	prog := &scriptProgress{newStatusLine(std.err, c.every, start)}
	stats, err := sc.CompileScripts(ctx, ingest.Scripts, prog.update)
	prog.clear()
	if err != nil {
		printScriptSummary(std.err, stats, time.Since(start))
		return err
	}
	printScriptSummary(std.out, stats, time.Since(start))
	return nil
}

func printScriptSummary(w io.Writer, s callvault.ScriptStats, took time.Duration) {
	fmt.Fprintf(w, "render scripts: read %d sessions and segments, gave %d of them new scripts, in %s (%.0f rows/s)\n",
		s.Rows, s.Changed, took.Round(time.Millisecond), float64(s.Rows)/max(took.Seconds(), 1e-9))
}

// scriptProgress reports the progress of --scripts like import's: a line
// redrawn in place on a terminal, plain lines otherwise.
type scriptProgress struct{ statusLine }

func (p *scriptProgress) update(s callvault.ScriptStats) {
	if d, ok := p.due(); ok {
		p.show(fmt.Sprintf("render scripts: %d sessions and segments read, %d given new scripts, %.0f rows/s",
			s.Rows, s.Changed, float64(s.Rows)/d.Seconds()))
	}
}

// partitionTables moves the PostgreSQL record tables into time partitions
// (--partition), reporting progress on standard error.
func (c *migrateConfig) partitionTables(ctx context.Context, std stdio) error {
	start := time.Now()
	line := newStatusLine(std.err, c.every, start)
	var last postgres.PartitionProgress
	err := postgres.Partition(ctx, c.db, func(p postgres.PartitionProgress) {
		last = p
		if elapsed, ok := line.due(); ok {
			line.show(fmt.Sprintf("partition: %d of about %d records copied, %s", p.Records, p.Total, elapsed.Round(time.Second)))
		}
	})
	line.clear()
	if err != nil {
		return fmt.Errorf("--partition: %w (run it again to go on from where it stopped)", err)
	}
	if last.Records == 0 && last.Done {
		fmt.Fprintf(std.out, "%s: the record tables are partitioned\n", postgres.Redact(c.db))
		return nil
	}
	fmt.Fprintf(std.out, "%s: the record tables are partitioned by month: %d records moved in %s\n",
		postgres.Redact(c.db), last.Records, time.Since(start).Round(time.Millisecond))
	return nil
}
