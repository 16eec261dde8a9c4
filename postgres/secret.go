package postgres

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// The secrets table holds the signing keys, the cursor key, the app
// registry and the local CA (callvault.SecretUpdater).
const (
	sqlLockSecret   = `SELECT value FROM secrets WHERE name = $1 FOR UPDATE`
	sqlUpdateSecret = `UPDATE secrets SET value = $2 WHERE name = $1`
)

// LoadSecret returns the secret called name, or nil when there is none.
func (db *DB) LoadSecret(ctx context.Context, name string) (_ []byte, err error) {
	defer wrap(&err, "postgres: secret %s", name)
	var value []byte
	err = db.pool.QueryRow(ctx, sqlSelectSecret, name).Scan(&value)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return value, err
}

// errSecretRace says that another server created a secret while this one
// was making it: the transaction is run again, and sees it.
var errSecretRace = errors.New("the secret was created meanwhile")

// UpdateSecret replaces the secret called name with what change makes of
// it, under a row lock (or, when there is no row yet, an insert that loses
// to one made at the same time, and then tries again with it).
func (db *DB) UpdateSecret(ctx context.Context, name string, change func(old []byte) ([]byte, error)) (_ []byte, err error) {
	defer wrap(&err, "postgres: secret %s", name)
	for attempt := 0; ; attempt++ {
		var value []byte
		err := db.inTx(ctx, func(tx pgx.Tx) error {
			var old []byte
			err := tx.QueryRow(ctx, sqlLockSecret, name).Scan(&old)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if value, err = change(old); err != nil {
				return err
			}
			switch {
			case old != nil && bytes.Equal(value, old):
				return nil
			case old != nil:
				_, err = tx.Exec(ctx, sqlUpdateSecret, name, value)
				return err
			}
			tag, err := tx.Exec(ctx, sqlInsertSecret, name, value, time.Now().UnixNano())
			if err == nil && tag.RowsAffected() == 0 {
				return errSecretRace
			}
			return err
		})
		if errors.Is(err, errSecretRace) && attempt < 3 {
			continue
		}
		return value, err
	}
}
