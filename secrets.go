package callvault

import "context"

// SecretUpdater is a Store that keeps named secrets every server on it
// shares, and changes one in a transaction: the development issuer's
// signing keys (callvault keys rotate), its app registry (callvault app)
// and the local CA of serve --tls auto (callvault ca), so that servers on
// one database need nothing but its URL. Without it (the SQLite store),
// each is a file of the data directory (signing-key.pem, apps.json, tls/),
// which the servers sharing that directory share.
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

// The secrets callvault keeps in a SecretUpdater.
const (
	SigningKeysSecret = "signing-key" // the development issuer's RSA keys, PEM, oldest first: the last signs
	AppsSecret        = "apps"        // the development issuer's app registry, as apps.json holds it
	LocalCASecret     = "tls-ca"      // the local CA of serve --tls auto: its private key and certificate, PEM
)
