package postgres_test

import (
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/postgres/pgtest"
	"github.com/callvault/callvault/storetest"
)

func TestSecretUpdater(t *testing.T) {
	dsn := pgtest.DSN(t)
	storetest.RunSecrets(t, func(t *testing.T) callvault.Store {
		return open(t, dsn)
	})
}
