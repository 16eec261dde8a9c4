package auth

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/internal/guid"
)

// AppsFile is the name of the app registry in the data directory.
const AppsFile = "apps.json"

// App is an application registered with the development issuer: what
// Entra ID calls an app registration with its service principal in one
// tenant, application permissions granted and consented.
type App struct {
	Tenant   string    `json:"tenant"`
	Name     string    `json:"name"`
	ClientID string    `json:"clientId"`
	Roles    []string  `json:"roles"` // the roles claim of its tokens
	Created  time.Time `json:"created"`
	Secrets  []Secret  `json:"secrets"`
}

// Secret is a client secret of an app. Only a salted, stretched hash of it
// is kept; the secret itself is shown once, when it is made.
type Secret struct {
	ID      string     `json:"id"`
	Hint    string     `json:"hint"` // its first three characters, as Entra ID shows them
	Hash    string     `json:"hash"` // pbkdf2-sha256$ITERATIONS$SALT$KEY, base64url
	Created time.Time  `json:"created"`
	Expires *time.Time `json:"expires,omitempty"`
}

// appsDocument is the registry file.
type appsDocument struct {
	Apps []App `json:"apps"`
}

// Errors of Apps.Authenticate, which the token endpoint turns into Entra
// ID's AADSTS errors.
var (
	ErrUnknownApp    = errors.New("auth: the app is not registered in the tenant")
	ErrWrongSecret   = errors.New("auth: the client secret is wrong")
	ErrSecretExpired = errors.New("auth: the client secret has expired")
)

// Apps is the registry of apps in a JSON file (normally apps.json in the
// data directory). Changes are written atomically under a lock, so that
// commands run at once lose nothing, and a serving process sees them on the
// next request. It is safe for concurrent use.
type Apps struct {
	path  string
	store AppsStore // where the registry is when it is not a file; nil for path

	mu   sync.Mutex
	doc  *appsDocument // as last read
	file fs.FileInfo   // of the file last read; nil if it did not exist

	checks secretChecks
}

// OpenApps returns the registry kept in path. The file need not exist yet.
func OpenApps(path string) *Apps { return &Apps{path: path} }

// AppsStore keeps a registry outside a file, such as in a database every
// server shares. Load returns the registry as an apps.json file holds it
// (nil when there is none yet); Update replaces it with what change makes of
// it, in one transaction, so that changes made at once lose nothing.
type AppsStore interface {
	Load() ([]byte, error)
	Update(change func(old []byte) ([]byte, error)) error
}

// AppsIn returns the registry kept in store. It reads the store on every
// List and Authenticate, so that every server sees a change at once.
func AppsIn(store AppsStore) *Apps { return &Apps{store: store} }

// Path returns the registry's file, "" when it is kept in an AppsStore.
func (a *Apps) Path() string { return a.path }

// NewApp describes an app to register.
type NewApp struct {
	Tenant    string
	Name      string
	Roles     []string
	SecretTTL time.Duration // 0: the secret never expires
	Now       time.Time     // zero: time.Now()
}

// Add registers an app with one new client secret, and returns the app and
// the secret. Names are unique within a tenant.
func (a *Apps) Add(n NewApp) (App, string, error) {
	if n.Now.IsZero() {
		n.Now = time.Now()
	}
	if !tenantName.MatchString(n.Tenant) {
		return App{}, "", callvault.Errorf(callvault.EINVALID, "'%s' is not a tenant id or domain name.", clip(n.Tenant))
	}
	n.Name = strings.TrimSpace(n.Name)
	if n.Name == "" || len(n.Name) > 120 || strings.ContainsFunc(n.Name, unicode.IsControl) {
		return App{}, "", callvault.Errorf(callvault.EINVALID, "An app needs a name of 1 to 120 printable characters.")
	}
	roles := []string{}
	for _, r := range n.Roles {
		if r == "" || strings.ContainsFunc(r, func(c rune) bool { return unicode.IsSpace(c) || c == ',' || unicode.IsControl(c) }) {
			return App{}, "", callvault.Errorf(callvault.EINVALID, "'%s' is not a role name.", clip(r))
		}
		if !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	if n.SecretTTL < 0 {
		return App{}, "", callvault.Errorf(callvault.EINVALID, "The secret lifetime must not be negative; got %s.", n.SecretTTL)
	}
	secret, err := newClientSecret()
	if err != nil {
		return App{}, "", err
	}
	hash, err := hashSecret(secret, secretIterations)
	if err != nil {
		return App{}, "", err
	}
	s := Secret{ID: guid.New(), Hint: secret[:3], Hash: hash, Created: n.Now.UTC()}
	if n.SecretTTL > 0 {
		exp := n.Now.Add(n.SecretTTL).UTC()
		s.Expires = &exp
	}
	app := App{Tenant: n.Tenant, Name: n.Name, ClientID: guid.New(), Roles: roles, Created: n.Now.UTC(), Secrets: []Secret{s}}
	err = a.update(func(doc *appsDocument) error {
		for _, other := range doc.Apps {
			if other.Tenant == app.Tenant && strings.EqualFold(other.Name, app.Name) {
				return callvault.Errorf(callvault.EINVALID, "Tenant '%s' already has an app named '%s' (client id %s).", app.Tenant, other.Name, other.ClientID)
			}
		}
		doc.Apps = append(doc.Apps, app)
		return nil
	})
	if err != nil {
		return App{}, "", err
	}
	return app, secret, nil
}

// Remove unregisters the app with that client id and returns it. Tokens
// already issued to it stay valid until they expire.
func (a *Apps) Remove(clientID string) (App, error) {
	var removed App
	err := a.update(func(doc *appsDocument) error {
		i := slices.IndexFunc(doc.Apps, func(app App) bool { return strings.EqualFold(app.ClientID, clientID) })
		if i < 0 {
			return callvault.Errorf(callvault.ENOTFOUND, "No app has the client id '%s'.", clip(clientID))
		}
		removed = doc.Apps[i]
		doc.Apps = slices.Delete(doc.Apps, i, i+1)
		return nil
	})
	return removed, err
}

// List returns the registered apps, in the order they were added.
func (a *Apps) List() ([]App, error) {
	doc, err := a.read()
	if err != nil {
		return nil, err
	}
	return slices.Clone(doc.Apps), nil
}

// Authenticate returns the app of tenant with clientID if secret is one of
// its client secrets. The errors are ErrUnknownApp, ErrWrongSecret,
// ErrSecretExpired and ErrBusy, or one reading the registry. A secret that
// passed once costs one SHA-256 from then on (secretChecks).
func (a *Apps) Authenticate(tenant, clientID, secret string, now time.Time) (App, error) {
	doc, err := a.read()
	if err != nil {
		return App{}, err
	}
	i := slices.IndexFunc(doc.Apps, func(app App) bool {
		return strings.EqualFold(app.ClientID, clientID) && strings.EqualFold(app.Tenant, tenant)
	})
	if i < 0 {
		return App{}, ErrUnknownApp
	}
	app := doc.Apps[i]
	s, ok, err := a.checks.match(app, secret)
	switch {
	case err != nil:
		return App{}, err
	case !ok:
		return App{}, ErrWrongSecret
	case s.Expires != nil && !now.Before(*s.Expires):
		return App{}, ErrSecretExpired
	}
	return app, nil
}

// read returns the registry, reading the file again if it changed.
func (a *Apps) read() (*appsDocument, error) {
	if a.store != nil {
		data, err := a.store.Load()
		if err != nil {
			return nil, fmt.Errorf("auth: app registry: %w", err)
		}
		return parseApps(data, "in the store")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	info, err := os.Stat(a.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("auth: app registry: %w", err)
	}
	if a.doc != nil && !fileChanged(a.file, info) {
		return a.doc, nil
	}
	doc, info, err := readApps(a.path)
	if err != nil {
		return nil, err
	}
	a.doc, a.file = doc, info
	return doc, nil
}

// readApps reads a registry file; a missing one is an empty registry.
func readApps(path string) (*appsDocument, fs.FileInfo, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &appsDocument{}, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("auth: app registry: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("auth: app registry: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: app registry: %w", err)
	}
	doc, err := parseApps(data, path)
	if err != nil {
		return nil, nil, err
	}
	return doc, info, nil
}

// parseApps reads a registry as apps.json holds it; nil is an empty one.
// where names it in errors.
func parseApps(data []byte, where string) (*appsDocument, error) {
	var doc appsDocument
	if data == nil {
		return &doc, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("auth: app registry %s: %w", where, err)
	}
	return &doc, nil
}

// encodeApps writes a registry as apps.json holds it.
func encodeApps(doc *appsDocument) ([]byte, error) {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("auth: app registry: %w", err)
	}
	return append(data, '\n'), nil
}

// update changes the registry file under its lock.
func (a *Apps) update(change func(*appsDocument) error) error {
	if a.store != nil {
		return a.store.Update(func(old []byte) ([]byte, error) {
			doc, err := parseApps(old, "in the store")
			if err != nil {
				return nil, err
			}
			if err := change(doc); err != nil {
				return nil, err
			}
			return encodeApps(doc)
		})
	}
	if err := os.MkdirAll(filepath.Dir(a.path), 0o700); err != nil {
		return fmt.Errorf("auth: app registry: %w", err)
	}
	unlock, err := lock(a.path)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer unlock()
	doc, _, err := readApps(a.path)
	if err != nil {
		return err
	}
	if err := change(doc); err != nil {
		return err
	}
	data, err := encodeApps(doc)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(a.path, data, 0o600); err != nil {
		return fmt.Errorf("auth: write app registry: %w", err)
	}
	return nil
}

// secretAlphabet is the characters of Entra ID's generated client secrets.
const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-"

// newClientSecret returns 40 characters drawn uniformly from secretAlphabet,
// about 242 bits, the length and alphabet of an Entra ID client secret.
func newClientSecret() (string, error) {
	const n = 40
	out := make([]byte, 0, n)
	buf := make([]byte, 64)
	limit := byte(256 - 256%len(secretAlphabet)) // rejection sampling: no modulo bias
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("auth: make client secret: %w", err)
		}
		for _, b := range buf {
			if b < limit && len(out) < n {
				out = append(out, secretAlphabet[int(b)%len(secretAlphabet)])
			}
		}
	}
	return string(out), nil
}

// secretIterations is the PBKDF2 work factor of new hashes. The secrets are
// random and long, so the stretching is not what protects them; the salt
// and the hash keep a copied registry from giving them away, and the work
// factor travels with each hash so that it can be raised later.
const secretIterations = 100_000

// hashSecret returns the pbkdf2-sha256 hash of a secret with a new salt.
func hashSecret(secret string, iterations int) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: hash client secret: %w", err)
	}
	key, err := pbkdf2.Key(sha256.New, secret, salt, iterations, 32)
	if err != nil {
		return "", fmt.Errorf("auth: hash client secret: %w", err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", iterations, b64(salt), b64(key)), nil
}

// checkSecret reports whether secret matches hash, in time that does not
// depend on how much of it matches.
func checkSecret(secret, hash string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return false
	}
	iterations, err := strconv.Atoi(parts[1])
	if err != nil || iterations < 1 || iterations > 10_000_000 {
		return false
	}
	salt, err1 := base64.RawURLEncoding.DecodeString(parts[2])
	want, err2 := base64.RawURLEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, secret, salt, iterations, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}
