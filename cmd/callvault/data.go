package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/identity"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/sqlite"
)

// The data directory holds the SQLite database, the token signing key
// (signing-key.pem, package auth) and the cursor key.
const (
	defaultDataDir = "./callvault-data"
	databaseFile   = "callvault.db"
	cursorKeyFile  = "cursor.key"
)

// dbFlagUsage is the help of --db, which every command that touches data has.
const dbFlagUsage = "the PostgreSQL database to use instead of the data directory's SQLite: a `URL`\n" +
	"such as postgres://USER:PASSWORD@HOST:5432/DATABASE?sslmode=verify-full (or a libpq\n" +
	"keyword=value string); the database then also keeps the signing and cursor keys,\n" +
	"so every server on it answers alike"

// openStore opens the store: the PostgreSQL database at dsn when there is
// one (--db), applying its migrations; otherwise the SQLite database of the
// data directory dir, creating both when needed.
func openStore(ctx context.Context, dir, dsn string) (callvault.Store, error) {
	if dsn == "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		return sqlite.Open(ctx, filepath.Join(dir, databaseFile))
	}
	if !isPostgresDSN(dsn) {
		return nil, fmt.Errorf("%w: --db %q is not a postgres:// URL", errUsage, postgres.Redact(dsn))
	}
	return postgres.Open(ctx, dsn)
}

// appliedMigrations returns the migrations that opening the SQLite store
// applied (the PostgreSQL store reports its own through postgres.Migrate).
func appliedMigrations(store callvault.Store) []string {
	if m, ok := store.(callvault.MigrationReporter); ok {
		return m.Applied()
	}
	return nil
}

// isPostgresDSN reports whether dsn is a PostgreSQL URL or keyword=value
// connection string.
func isPostgresDSN(dsn string) bool {
	if scheme, _, ok := strings.Cut(dsn, "://"); ok {
		return scheme == "postgres" || scheme == "postgresql"
	}
	return strings.Contains(dsn, "=")
}

// storeName says where the store is, for messages: the data directory, or
// the database's URL without its password.
func storeName(dir, dsn string) string {
	if dsn != "" {
		return postgres.Redact(dsn)
	}
	return dir
}

// loadSigner returns the development issuer: its keys are in the store when
// the store keeps secrets, else in the data directory dir (package identity).
func loadSigner(ctx context.Context, store callvault.Store, dir string) (*auth.Signer, error) {
	return identity.Open(store, dir, "").Signer(ctx)
}

// openSigner returns the signer of the PostgreSQL database at dsn, or when
// there is none of the data directory dir, for commands that need no store.
func openSigner(ctx context.Context, dir, dsn string) (*auth.Signer, error) {
	if dsn == "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		return auth.LoadOrCreateSigner(dir)
	}
	store, err := openStore(ctx, dir, dsn)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	return loadSigner(ctx, store, dir)
}

// loadCursorKey returns the key that seals $skiptoken values: in the store
// when the store keeps secrets, else in the data directory dir.
func loadCursorKey(ctx context.Context, store callvault.Store, dir string) ([]byte, error) {
	su, ok := store.(callvault.SecretUpdater)
	if !ok {
		return loadOrCreateCursorKey(dir)
	}
	key, err := callvault.LoadOrCreateSecret(ctx, su, postgres.CursorKeySecret, postgres.RandomKey(32))
	if err != nil {
		return nil, err
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("the cursor key in the database is damaged: delete the %q row of its secrets table to make a new one (open next links stop working)", postgres.CursorKeySecret)
	}
	return key, nil
}

// loadOrCreateCursorKey returns the key that seals $skiptoken values. It is
// created once, atomically, so that two processes on one data directory
// share it and a next link from one is good on the other.
func loadOrCreateCursorKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, cursorKeyFile)
	if key, err := readCursorKey(path); err == nil {
		return key, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	tmp, err := os.CreateTemp(dir, ".cursor-key-*")
	if err != nil {
		return nil, fmt.Errorf("cursor key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("cursor key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("cursor key: %w", err)
	}
	// Link fails if another process won the race: then its key is the key.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("cursor key: %w", err)
	}
	return readCursorKey(path)
}

func readCursorKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("cursor key %s is damaged: delete it to make a new one (open next links stop working)", path)
	}
	return key, nil
}
