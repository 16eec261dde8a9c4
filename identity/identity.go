// Package identity says where the development issuer's state lives: its
// signing keys, its registered apps and the local CA of serve --tls auto.
// With a store that keeps secrets (callvault.SecretUpdater: PostgreSQL)
// they are in the database, so that servers on it need nothing but its URL;
// otherwise they are files of the data directory (signing-key.pem,
// apps.json, tls/), as they always were.
//
// A data directory's registry and CA are imported into a store the first
// time it has none, so that servers that kept them in files go on trusting
// the same apps and CA once they move to the database; the files are left
// as they are, and not read again.
package identity

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/tlsca"
)

// KeyRefresh is how often a server reads the signing keys of a store again:
// a key rotated by another process signs everywhere within it. A token
// signed with a key a server does not know yet makes it read them at once.
const KeyRefresh = 10 * time.Second

// readTimeout bounds a read of the store made outside a request's context
// (a signer's or a registry's).
const readTimeout = 5 * time.Second

// Home is where the development issuer's state lives.
type Home struct {
	dir      string                  // the data directory
	store    callvault.SecretUpdater // nil: the data directory's files
	appsFile string                  // an app registry file named by --apps; "" for the default
}

// Open returns the home of a data directory and a store: the store when it
// keeps secrets, else the directory's files. appsFile, when not "", is an
// app registry file to use whatever the store (the --apps flag).
func Open(store callvault.Store, dataDir, appsFile string) *Home {
	h := &Home{dir: dataDir, appsFile: appsFile}
	if su, ok := store.(callvault.SecretUpdater); ok {
		h.store = su
	}
	return h
}

// Signer returns the development issuer's signer, making a signing key if
// there is none. One of a store reads the keys again every KeyRefresh.
func (h *Home) Signer(ctx context.Context) (*auth.Signer, error) {
	if h.store == nil {
		return auth.LoadOrCreateSigner(h.dir)
	}
	data, err := h.store.UpdateSecret(ctx, callvault.SigningKeysSecret, func(old []byte) ([]byte, error) {
		if old != nil {
			return old, nil
		}
		return auth.NewSigningKeysPEM(time.Now())
	})
	if err != nil {
		return nil, err
	}
	first := data
	return auth.SignerFromSource(func() ([]byte, error) {
		if first != nil {
			data, first = first, nil
			return data, nil
		}
		return h.load(callvault.SigningKeysSecret)
	}, KeyRefresh)
}

// load reads a secret that must be there.
func (h *Home) load(name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	data, err := h.store.LoadSecret(ctx, name)
	if err == nil && data == nil {
		err = fmt.Errorf("the %q row of the secrets table is gone", name)
	}
	return data, err
}

// RotateKey adds a new signing key, which signs from then on, and returns
// its kid; tokens of the old keys stay valid.
func (h *Home) RotateKey(ctx context.Context, now time.Time) (string, error) {
	if h.store == nil {
		return auth.RotateSigningKey(h.dir, now)
	}
	if _, err := h.Signer(ctx); err != nil { // the first key, if there is none
		return "", err
	}
	var kid string
	_, err := h.store.UpdateSecret(ctx, callvault.SigningKeysSecret, func(old []byte) (data []byte, err error) {
		data, kid, err = auth.AddSigningKeyPEM(old, now)
		return data, err
	})
	return kid, err
}

// RemoveKey retires the signing key kid: tokens it signed stop verifying.
// The newest key cannot be removed.
func (h *Home) RemoveKey(ctx context.Context, kid string) error {
	if h.store == nil {
		return auth.RemoveSigningKey(h.dir, kid)
	}
	_, err := h.store.UpdateSecret(ctx, callvault.SigningKeysSecret, func(old []byte) ([]byte, error) {
		if old == nil {
			return nil, callvault.Errorf(callvault.ENOTFOUND, "There is no signing key with kid '%s'.", kid)
		}
		return auth.RemoveSigningKeyPEM(old, kid)
	})
	return err
}

// ErrNoKeys is the error of Keys when no signing key has been made yet.
var ErrNoKeys = errors.New("no signing keys")

// Keys describes the signing keys, oldest first; the last one signs.
func (h *Home) Keys(ctx context.Context) ([]auth.KeyInfo, error) {
	if h.store == nil {
		if _, err := os.Stat(filepath.Join(h.dir, auth.SigningKeyFile)); err != nil {
			return nil, fmt.Errorf("%w in %s: %w", ErrNoKeys, h.dir, err)
		}
		s, err := auth.LoadOrCreateSigner(h.dir)
		if err != nil {
			return nil, err
		}
		return s.Keys(), nil
	}
	data, err := h.store.LoadSecret(ctx, callvault.SigningKeysSecret)
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, fmt.Errorf("%w in the database", ErrNoKeys)
	}
	return auth.KeysOfPEM(data)
}

// Apps returns the app registry: the --apps file when one is named, else
// the store's (importing the data directory's apps.json the first time the
// store has none), else the data directory's apps.json.
func (h *Home) Apps(ctx context.Context) (*auth.Apps, error) {
	if h.appsFile != "" {
		return auth.OpenApps(h.appsFile), nil
	}
	file := filepath.Join(h.dir, auth.AppsFile)
	if h.store == nil {
		return auth.OpenApps(file), nil
	}
	existing, err := h.store.LoadSecret(ctx, callvault.AppsSecret)
	if err != nil {
		return nil, err
	}
	if existing == nil {
		data, err := os.ReadFile(file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("import the app registry: %w", err)
		default:
			if _, err := auth.OpenApps(file).List(); err != nil { // a damaged file is not imported
				return nil, fmt.Errorf("import the app registry: %w", err)
			}
			if _, err := h.store.UpdateSecret(ctx, callvault.AppsSecret, keepOr(data)); err != nil {
				return nil, err
			}
		}
	}
	return auth.AppsIn(appsStore{h}), nil
}

// keepOr is a change that keeps a stored secret, or stores data when there
// is none.
func keepOr(data []byte) func([]byte) ([]byte, error) {
	return func(old []byte) ([]byte, error) {
		if old != nil {
			return old, nil
		}
		return data, nil
	}
}

// appsStore is the registry of a store, as auth keeps it.
type appsStore struct{ h *Home }

func (a appsStore) Load() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	return a.h.store.LoadSecret(ctx, callvault.AppsSecret)
}

func (a appsStore) Update(change func([]byte) ([]byte, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*readTimeout)
	defer cancel()
	_, err := a.h.store.UpdateSecret(ctx, callvault.AppsSecret, change)
	return err
}

// CA returns the local CA, making it if there is none: in a store, the
// data directory's CA is imported the first time the store has none.
func (h *Home) CA(ctx context.Context, now time.Time) (*tlsca.CA, error) {
	if h.store == nil {
		ca, _, err := tlsca.OpenDir(h.dir, now)
		return ca, err
	}
	data, err := h.store.UpdateSecret(ctx, callvault.LocalCASecret, func(old []byte) ([]byte, error) {
		if old != nil {
			return old, nil
		}
		data, err := tlsca.ReadDir(h.dir)
		if errors.Is(err, fs.ErrNotExist) {
			return tlsca.New(now)
		}
		return data, err
	})
	if err != nil {
		return nil, err
	}
	ca, err := tlsca.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("tls: the local CA in the database is damaged (%v); delete the %q row of its secrets table to make a new one, and trust the new CA", err, callvault.LocalCASecret)
	}
	return ca, nil
}

// CAFile returns the path of a file holding the local CA's certificate, for
// SSL_CERT_FILE: DATA/tls/ca.pem, written when missing or stale (with a
// store too: it is public, a copy of the store's).
func (h *Home) CAFile(ctx context.Context, now time.Time) (string, error) {
	if h.store == nil {
		_, path, err := tlsca.OpenDir(h.dir, now)
		return path, err
	}
	ca, err := h.CA(ctx, now)
	if err != nil {
		return "", err
	}
	return tlsca.WriteCert(ca, filepath.Join(h.dir, tlsca.DirName, tlsca.CertFile))
}

// ServerCertificate returns a certificate for hosts from the local CA, and
// where the CA is, for the message serve prints: in the data directory the
// certificate is kept (DATA/tls/server.pem) and issued again only when it
// must be; with a store each server issues its own at start and writes
// nothing.
func (h *Home) ServerCertificate(ctx context.Context, hosts []string, now time.Time) (tls.Certificate, string, error) {
	if h.store == nil {
		return tlsca.DirCertificate(h.dir, hosts, now)
	}
	ca, err := h.CA(ctx, now)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	cert, _, err := ca.Issue(hosts, now)
	return cert, "", err
}
