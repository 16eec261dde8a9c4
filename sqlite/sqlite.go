// Package sqlite is callvault's embedded store: a callvault.Store on one
// SQLite file in WAL mode, through the pure-Go driver modernc.org/sqlite.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/errwrap"
	driver "modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// busyTimeoutMillis bounds how long a connection waits for a lock another
// process holds (an import running beside a server) before SQLITE_BUSY.
const busyTimeoutMillis = 10000

// pageSize is the page size of the databases Open creates (SQLite's
// default is 4 KiB): on 16 KiB pages nearly every 1 to 8 KB body is a cell
// of its leaf page rather than a chain of overflow pages, which imports and
// reads faster; larger pages lose as the database grows. An existing
// database keeps the page size it was created with. The measurements are in
// docs/performance.md ("SQLite's page size").
const pageSize = 16 << 10

// DB is a callvault.Store on one SQLite database file. It is safe for
// concurrent use.
type DB struct {
	// write has exactly one connection: SQLite admits one writer at a time,
	// so queueing writers in the pool, not in SQLite's lock, means they never
	// see SQLITE_BUSY between themselves.
	write *sql.DB
	// read has many connections that only read; under WAL they see the last
	// committed snapshot and never wait for the writer.
	read *sql.DB
	// raw are read-only connections of SQLite's C API, as many as read
	// has, on which ListSessions reads (rawread.go).
	raw *rawPool
	// ckpt copies the WAL of bulk writes into the file beside the writer
	// (checkpoint.go); started by the first PutRecords.
	ckptOnce sync.Once
	ckpt     *checkpointer
	dsnCkpt  string
	bulkWAL  int // bulkWALBytes, which tests make small
	// bulkMaxParticipants, which tests make small (bulk.go).
	bulkMaxParticipants int64
	// path is the database file's absolute path; bulkMu guards
	// bulkRelease, which drops the bulk lock of a load this DB began
	// (bulklock_unix.go), at its end or at Close.
	path        string
	bulkMu      sync.Mutex
	bulkRelease func()
	// Pages appended to the WAL since the checkpointer was poked, and since
	// the writer checkpointed (noteWALGrowth). The writer's connection
	// guards them: PutRecords holds it.
	walPages, ownPages int

	// Statements prepared once at Open; transactions bind them with
	// Tx.StmtContext, which reuses the preparation on the same connection.
	stmts   statements      // PutRecord, GetRecord, ListSessions
	queries queryStatements // the other queries, and the report rows

	pageSize int      // of the database file, in bytes
	applied  []string // the migrations Open applied
}

var _ callvault.Store = (*DB)(nil)

// Open opens the database at path, creating the file and its parent
// directory when they do not exist, and applies the migrations it has not
// applied yet.
func Open(ctx context.Context, path string) (_ *DB, err error) {
	if path == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "A database path is required.")
	}
	defer wrap(&err, "sqlite: open %s", path)

	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	// The data directory holds call records: keep it private.
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, err
	}

	db := &DB{bulkWAL: bulkWALBytes, bulkMaxParticipants: bulkMaxParticipants, path: abs}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()

	wp := url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeoutMillis)},
		"_foreign_keys": {"1"},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"NORMAL"}, // under WAL a power cut may lose the last commits, never the file
		"_txlock":       {"immediate"},
		// The driver runs the _pragma list before PRAGMA journal_mode, so on
		// a new file the page size is set before WAL mode and the first table
		// fix it; on an existing file it does nothing (see pageSize).
		"_pragma": {"page_size(" + strconv.Itoa(pageSize) + ")"},
	}
	if db.write, err = sql.Open("sqlite", dsn(abs, wp)); err != nil {
		return nil, err
	}
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	db.write.SetConnMaxIdleTime(0)

	// The writer's connection turns the file to WAL and creates the tables
	// before any reader connects.
	if err := db.write.PingContext(ctx); err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		return nil, err
	}
	// The page size of this database, which may be older than pageSize.
	if err := db.write.QueryRowContext(ctx, "PRAGMA page_size").Scan(&db.pageSize); err != nil {
		return nil, err
	}
	// Only a saving: a database this process may read but not write
	// still opens.
	_ = db.commitToWAL(ctx)
	db.restoreBulk(ctx)

	if db.read, err = sql.Open("sqlite", dsn(abs, url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeoutMillis)},
		"_query_only":   {"1"},
	})); err != nil {
		return nil, err
	}
	// Cached reads are CPU-bound, so about one reader per CPU; at least a few,
	// so that a read waiting on the disk does not hold up the others.
	readers := max(4, runtime.GOMAXPROCS(0))
	db.read.SetMaxOpenConns(readers)
	db.read.SetMaxIdleConns(readers)
	db.raw = newRawPool(dsn(abs, nil), readers)
	db.dsnCkpt = dsn(abs, url.Values{"_busy_timeout": {fmt.Sprint(busyTimeoutMillis)}})

	if err := db.stmts.prepare(ctx, db.write, db.read); err != nil {
		return nil, err
	}
	if err := db.queries.prepare(ctx, db.write, db.read); err != nil {
		return nil, err
	}
	return db, nil
}

// commitToWAL commits a transaction that changes nothing but a header
// page. While the WAL holds no commit (a database checkpointed when its last
// connection closed: every restart), SQLite learns the database's size at
// the start of every read transaction from the file, an fstat each, a
// system call a request; once a commit is in the WAL, from the WAL index in
// shared memory, where it stays after later checkpoints. A server that only
// reads would otherwise pay it until its first write. Writing
// user_version's own value back is that commit.
func (db *DB) commitToWAL(ctx context.Context) error {
	var v int64
	if err := db.write.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	_, err := db.write.ExecContext(ctx, "PRAGMA user_version = "+strconv.FormatInt(v, 10))
	return err
}

// Close closes the database. It is safe to call on a DB that Open only
// partly opened.
func (db *DB) Close() error {
	var errs []error
	db.releaseBulk() // a load not ended is one that stopped: the next Open builds its indexes
	if db.raw != nil {
		// First: it waits for the reads in progress.
		errs = append(errs, db.raw.close())
	}
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.close())
	}
	errs = append(errs, db.stmts.close(), db.queries.close())
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		// SQLite recommends PRAGMA optimize before closing a long-lived
		// connection; it refreshes the planner's statistics where they are stale.
		_, err := db.write.Exec(`PRAGMA optimize`)
		errs = append(errs, err, db.write.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// dsn returns the driver's name for the file at the absolute path abs with
// the driver parameters params. A file: URI escapes '?' and '#' in the path.
func dsn(abs string, params url.Values) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: params.Encode()}
	return u.String()
}

// migrate applies, in name order, each embedded migration that the
// schema_migrations table does not list yet.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, `
		CREATE TABLE IF NOT EXISTS schema_migrations (
			name       TEXT PRIMARY KEY,
			applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
		)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		applied, err := db.migrateFile(ctx, name)
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if applied {
			db.applied = append(db.applied, path.Base(name))
		}
	}
	return nil
}

// Applied returns the names of the migrations that Open applied, in order:
// none when the database was up to date.
func (db *DB) Applied() []string { return slices.Clone(db.applied) }

// migrateFile applies one migration and records it in the same transaction,
// so that a failed migration leaves no trace and is tried again next time.
func (db *DB) migrateFile(ctx context.Context, name string) (applied bool, err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()

	// Checked inside the (immediate) transaction, so two processes opening
	// the same new file do not both apply it.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return false, err
	} else if n != 0 {
		return false, nil
	}

	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES (?)`, name); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// stmtSpec is a statement a DB prepares once, at Open: on the writer's
// connection or on the readers'.
type stmtSpec struct {
	stmt  **sql.Stmt
	write bool
	sql   string
}

func prepareAll(ctx context.Context, write, read *sql.DB, specs []stmtSpec) error {
	for _, p := range specs {
		db := read
		if p.write {
			db = write
		}
		stmt, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return err
		}
		*p.stmt = stmt
	}
	return nil
}

// closeAll closes the statements of specs that were prepared.
func closeAll(specs []stmtSpec) error {
	var errs []error
	for _, p := range specs {
		if *p.stmt != nil {
			errs = append(errs, (*p.stmt).Close())
		}
	}
	return errors.Join(errs...)
}

// wrap gives an internal error the context of the operation that failed
// (errwrap.Wrap); a write refused for lack of room (SQLITE_FULL, or ENOSPC
// from the file system) becomes callvault.ErrStorageFull, the driver's
// error kept beside.
func wrap(errp *error, format string, args ...any) {
	errwrap.Wrap(errp, storageFull, format, args...)
}

// storageFull is callvault.ErrStorageFull when err says the database or its
// disk is full, else nil.
func storageFull(err error) error {
	if full(err) {
		return callvault.ErrStorageFull
	}
	return nil
}

// full reports whether err says the database or its disk is full.
func full(err error) bool {
	var se *driver.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true // the primary code, whatever the extended one
	}
	return errors.Is(err, syscall.ENOSPC)
}
