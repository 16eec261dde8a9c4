package callvault

import "context"

// SecretUpdater is a Store that keeps named secrets every server on it
// shares, and changes one in a transaction: the development issuer's
// signing keys (callvault keys rotate), its app registry (callvault app),
// the local CA of serve --tls auto (callvault ca) and the cursor key
// (LoadOrCreateSecret), so that servers on one database need nothing but
// its URL and sign tokens and seal cursors alike. Without it (the SQLite
// store), each is a file of the data directory (signing-key.pem,
// apps.json, tls/, cursor.key), which the servers sharing that directory
// share.
type SecretUpdater interface {
	// LoadSecret returns the secret called name, or nil when there is none.
	LoadSecret(ctx context.Context, name string) ([]byte, error)

	// UpdateSecret replaces the secret called name with what change makes
	// of it (old is nil when there is none), and returns the secret as
	// stored. Updates of one name never interleave: a change made at the
	// same time by another server is seen by change, not lost. When change
	// returns an error nothing is written and UpdateSecret returns it; when
	// it returns old unchanged nothing is written. change may be called
	// more than once, when the database asks for a retry.
	UpdateSecret(ctx context.Context, name string, change func(old []byte) ([]byte, error)) ([]byte, error)
}

// LoadOrCreateSecret returns the secret called name, creating it with
// create when s has none; when several servers race to create it, all of
// them get the one that was stored first (UpdateSecret orders them). A
// secret that is there is read without a transaction.
func LoadOrCreateSecret(ctx context.Context, s SecretUpdater, name string, create func() ([]byte, error)) ([]byte, error) {
	if v, err := s.LoadSecret(ctx, name); err != nil || v != nil {
		return v, err
	}
	return s.UpdateSecret(ctx, name, func(old []byte) ([]byte, error) {
		if old != nil {
			return old, nil
		}
		return create()
	})
}

// The secrets callvault keeps in a SecretUpdater.
const (
	SigningKeysSecret = "signing-key" // the development issuer's RSA keys, PEM, oldest first: the last signs
	AppsSecret        = "apps"        // the development issuer's app registry, as apps.json holds it
	LocalCASecret     = "tls-ca"      // the local CA of serve --tls auto: its private key and certificate, PEM
)
