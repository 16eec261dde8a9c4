// Package postgres is callvault's scale-out store: a callvault.Store on
// PostgreSQL through pgx, for any number of servers sharing one database.
//
// Its SQL stays within what Postgres-wire distributed engines (CockroachDB,
// YugabyteDB) accept: plain tables and indexes, INSERT … ON CONFLICT, row
// locks; no triggers, stored procedures, sequences, LISTEN/NOTIFY, advisory
// locks or jsonb. Every read is one statement, so it sees one snapshot at
// PostgreSQL's default READ COMMITTED isolation, and costs one round trip.
package postgres

import (
	"context"
	crand "crypto/rand"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/errwrap"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is a callvault.Store on a PostgreSQL database. It is safe for
// concurrent use, and any number of DBs, in any number of processes, may
// share one database.
type DB struct {
	pool *pgxpool.Pool

	// replicas take reads (AddReplicas); nil for none.
	replicas *replicaSet

	// parts says whether the record tables are partitioned (partition.go).
	parts partitionState

	// lastPage is how many bytes the last ListSessions appended to its
	// arena (at most maxPageHint): the room the next one reserves.
	lastPage atomic.Int64

	// The size of CompileScripts' chunks; zero for scriptChunkRows and
	// scriptChunkBytes. The tests make them small.
	scriptRows, scriptBytes int
}

var _ callvault.Store = (*DB)(nil)

// Open connects to the database at dsn, a postgres:// URL or a
// keyword=value connection string as libpq takes them (pgx's pool_*
// parameters size the pool; search_path=SCHEMA puts the tables in a schema
// of their own), and applies the migrations it has not applied yet.
func Open(ctx context.Context, dsn string) (_ *DB, err error) {
	defer wrap(&err, "postgres: open %s", Redact(dsn))
	pool, err := connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	db := &DB{pool: pool}
	if _, err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := db.detectPartitions(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Migrate applies to the database at dsn the migrations it lacks, and
// returns their names; none when the schema is up to date.
func Migrate(ctx context.Context, dsn string) (_ []string, err error) {
	defer wrap(&err, "postgres: migrate %s", Redact(dsn))
	pool, err := connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return (&DB{pool: pool}).migrate(ctx)
}

func connect(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	if dsn == "" {
		return nil, callvault.Errorf(callvault.EINVALID, "A PostgreSQL connection string is required.")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the string, password and all.
		return nil, errors.New("the connection string is not valid: use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?PARAMS]")
	}
	bufferReads(cfg)
	compressLZ4(cfg)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// Close closes the pool's connections once the queries in flight are done.
func (db *DB) Close() error {
	if db.replicas != nil {
		db.replicas.close()
	}
	db.pool.Close()
	return nil
}

// Redact returns dsn with its password, if any, masked, for logs and
// messages.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return keywordPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

var keywordPassword = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

// The migrations are recorded in schema_migrations. Servers starting at
// the same time serialise on a row lock in schema_migrations_lock, taken
// with SELECT … FOR UPDATE in the transaction that applies them: unlike
// pg_advisory_lock, CockroachDB and YugabyteDB have that too, and the lock
// goes with the transaction, so a server that dies while migrating
// releases it.
const (
	sqlCreateMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
		name       TEXT   NOT NULL PRIMARY KEY,
		applied_at BIGINT NOT NULL -- unix nanoseconds
	)`
	sqlCreateMigrationLock = `CREATE TABLE IF NOT EXISTS schema_migrations_lock (
		id INT NOT NULL PRIMARY KEY
	)`
	sqlInsertMigrationLock = `INSERT INTO schema_migrations_lock (id) VALUES (1) ON CONFLICT (id) DO NOTHING`
	sqlLockMigrations      = `SELECT id FROM schema_migrations_lock WHERE id = 1 FOR UPDATE`
	sqlAppliedMigrations   = `SELECT name FROM schema_migrations`
	sqlRecordMigration     = `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`
)

// migrate applies, in name order and in one transaction, each embedded
// migration that schema_migrations does not list, and returns their names.
func (db *DB) migrate(ctx context.Context) ([]string, error) {
	return db.migrateThrough(ctx, "")
}

// migrateThrough is migrate up to and including the migration called last
// (all of them when last is ""): the tests use it to make a database of an
// older schema.
func (db *DB) migrateThrough(ctx context.Context, last string) ([]string, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	if last != "" {
		i := slices.Index(names, last)
		if i < 0 {
			return nil, fmt.Errorf("no migration %s", last)
		}
		names = names[:i+1]
	}
	// The common case, a server starting on a current schema, takes no lock.
	if applied, err := db.appliedMigrations(ctx, db.pool); err == nil && !pending(names, applied) {
		return nil, nil
	}
	if err := db.createMigrationTables(ctx); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	cockroach, err := db.isCockroach(ctx)
	if err != nil {
		return nil, err
	}

	var done []string
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		done = done[:0]
		// Waits here while another server migrates; then sees what it did.
		if _, err := tx.Exec(ctx, sqlLockMigrations); err != nil {
			return err
		}
		applied, err := db.appliedMigrations(ctx, tx)
		if err != nil {
			return err
		}
		for _, name := range names {
			if applied[name] {
				continue
			}
			buf, err := fs.ReadFile(migrationFS, name)
			if err != nil {
				return err
			}
			// Without arguments pgx sends the file as one simple query, which
			// may hold many statements.
			if _, err := tx.Exec(ctx, dialect(string(buf), cockroach)); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
			if _, err := tx.Exec(ctx, sqlRecordMigration, name, time.Now().UnixNano()); err != nil {
				return err
			}
			done = append(done, name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return done, nil
}

// dialect returns the SQL of a migration as the server takes it: on
// CockroachDB, whose strings always compare byte by byte and which refuses
// a C collation on a column, without the COLLATE "C" clauses.
func dialect(sql string, cockroach bool) string {
	if cockroach {
		return strings.ReplaceAll(sql, ` COLLATE "C"`, "")
	}
	return sql
}

// createMigrationTables creates the migration tables if they are missing.
// Two servers creating the same table at once can collide in PostgreSQL's
// catalog even with IF NOT EXISTS; the loser tries again and finds it.
func (db *DB) createMigrationTables(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := func() error {
			for _, sql := range []string{sqlCreateMigrations, sqlCreateMigrationLock, sqlInsertMigrationLock} {
				if _, err := db.pool.Exec(ctx, sql); err != nil {
					return err
				}
			}
			return nil
		}()
		// unique_violation, duplicate_table, duplicate_object: the catalog
		// rows of a table (or its row type) that another server just made.
		if err == nil || attempt == 5 || !hasCode(err, "23505", "42P07", "42710") {
			return err
		}
	}
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// appliedMigrations returns the names in schema_migrations; an error when
// the table does not exist.
func (db *DB) appliedMigrations(ctx context.Context, q querier) (map[string]bool, error) {
	rows, err := q.Query(ctx, sqlAppliedMigrations)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	applied := make(map[string]bool, len(names))
	for _, n := range names {
		applied[n] = true
	}
	return applied, nil
}

func pending(names []string, applied map[string]bool) bool {
	for _, n := range names {
		if !applied[n] {
			return true
		}
	}
	return false
}

// isCockroach reports whether the server is CockroachDB, whose migrations
// differ in one respect (see migrate).
func (db *DB) isCockroach(ctx context.Context) (bool, error) {
	var v string
	if err := db.pool.QueryRow(ctx, `SELECT version()`).Scan(&v); err != nil {
		return false, err
	}
	return strings.Contains(v, "CockroachDB"), nil
}

// maxTxAttempts bounds how often inTx runs a transaction that the database
// aborted to keep transactions serialisable (CockroachDB does so under
// contention) or to break a deadlock.
const maxTxAttempts = 8

// inTx runs fn in a read-write transaction and commits it, running it again
// when the database asks for a retry. fn must be safe to run again.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, db.pool, fn)
		db.failed(err)
		if err == nil || attempt == maxTxAttempts || !hasCode(err, "40001", "40P01") { // serialization_failure, deadlock_detected
			return err
		}
		backoff := time.Duration(1<<min(attempt, 6)) * time.Millisecond
		select {
		case <-time.After(backoff/2 + rand.N(backoff)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// hasCode reports whether err is a PostgreSQL error with one of codes.
func hasCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && slices.Contains(codes, pe.Code)
}

// CursorKeySecret names the HMAC key of $skiptoken cursors in the secrets
// table, which every replica shares. (The signing keys are
// callvault.SigningKeysSecret.)
const CursorKeySecret = "cursor-key"

const (
	sqlSelectSecret = `SELECT value FROM secrets WHERE name = $1`
	sqlInsertSecret = `INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`
)

// RandomKey returns n random bytes: a create function for
// callvault.LoadOrCreateSecret.
func RandomKey(n int) func() ([]byte, error) {
	return func() ([]byte, error) {
		key := make([]byte, n)
		crand.Read(key)
		return key, nil
	}
}

// wrap gives an internal error the context of the operation that failed. A
// *callvault.Error passes through as it is: its message is for the caller.
//
// A write refused for lack of room (53100 disk_full; 53200 out_of_memory
// and 53300 too_many_connections are not about storage) becomes
// callvault.ErrStorageFull, the server's error kept beside; a database that
// cannot be reached, or is shutting down, or is no longer the primary,
// callvault.ErrUnavailable (a 503 with Retry-After).
func wrap(errp *error, format string, args ...any) {
	errwrap.Wrap(errp, kind, format, args...)
}

// kind is the callvault error an internal one stands for: ErrStorageFull
// for disk_full, ErrUnavailable for a database out of reach; else nil.
func kind(err error) error {
	switch {
	case hasCode(err, "53100"):
		return callvault.ErrStorageFull
	case unavailable(err):
		return callvault.ErrUnavailable
	}
	return nil
}
