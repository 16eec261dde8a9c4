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

	"github.com/callvault/callvault/sqlite"
)

// The data directory holds the SQLite database, the token signing key
// (signing-key.pem, package auth) and the cursor key.
const (
	defaultDataDir = "./callvault-data"
	databaseFile   = "callvault.db"
	cursorKeyFile  = "cursor.key"
)

// openStore opens (creating when needed) the data directory's database.
func openStore(ctx context.Context, dir string) (*sqlite.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return sqlite.Open(ctx, filepath.Join(dir, databaseFile))
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
