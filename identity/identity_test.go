package identity_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/identity"
	"github.com/callvault/callvault/tlsca"
)

// memStore is a store that keeps secrets in memory, as PostgreSQL does in
// its secrets table.
type memStore struct {
	callvault.Store
	mu      sync.Mutex
	secrets map[string][]byte
	loads   int
}

func newMemStore() *memStore { return &memStore{secrets: map[string][]byte{}} }

func (m *memStore) LoadSecret(_ context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads++
	return bytes.Clone(m.secrets[name]), nil
}

func (m *memStore) UpdateSecret(_ context.Context, name string, change func([]byte) ([]byte, error)) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := change(bytes.Clone(m.secrets[name]))
	if err != nil {
		return nil, err
	}
	m.secrets[name] = v
	return bytes.Clone(v), nil
}

var ctx = context.Background()

func TestWithoutAStoreEverythingIsAFileOfTheDataDirectory(t *testing.T) {
	dir := t.TempDir()
	home := identity.Open(nil, dir, "")
	if _, err := home.Signer(ctx); err != nil {
		t.Fatal(err)
	}
	apps, _ := home.Apps(ctx)
	if _, _, err := apps.Add(auth.NewApp{Tenant: "contoso.onmicrosoft.com", Name: "reader"}); err != nil {
		t.Fatal(err)
	}
	path, err := home.CAFile(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{auth.SigningKeyFile, auth.AppsFile, filepath.Join(tlsca.DirName, tlsca.KeyFile)} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if path != filepath.Join(dir, tlsca.DirName, tlsca.CertFile) {
		t.Errorf("CA file %s", path)
	}
}

func TestServersOnOneStoreShareKeysAndSeeARotationAtOnce(t *testing.T) {
	store := newMemStore()
	a, b := identity.Open(store, t.TempDir(), ""), identity.Open(store, t.TempDir(), "")
	signerA, err := a.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signerB, err := b.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if signerA.KeyID() != signerB.KeyID() {
		t.Fatalf("two servers made two keys: %s, %s", signerA.KeyID(), signerB.KeyID())
	}
	verifierB := signerB.Verifier(auth.VerifierOptions{})
	old, _ := signerA.Mint(auth.TokenOptions{Tenant: "contoso.onmicrosoft.com"})

	kid, err := a.RotateKey(ctx, time.Now())
	if err != nil || kid == "" || kid == signerB.KeyID() {
		t.Fatalf("rotate: %q, %v", kid, err)
	}
	// A token of the new key, as a server that has read it mints one.
	fresh, err := identity.Open(store, t.TempDir(), "").Signer(ctx)
	if err != nil || fresh.KeyID() != kid {
		t.Fatalf("a signer made after the rotation signs with %s, want %s (%v)", fresh.KeyID(), kid, err)
	}
	tok, _ := fresh.Mint(auth.TokenOptions{Tenant: "contoso.onmicrosoft.com"})
	if _, err := verifierB.Verify(tok); err != nil {
		t.Errorf("B refuses a token of the rotated key: %v", err)
	}
	if _, err := verifierB.Verify(old); err != nil {
		t.Errorf("B refuses a token of the old key: %v", err)
	}

	keys, err := b.Keys(ctx)
	if err != nil || len(keys) != 2 || !keys[1].Signing || keys[1].ID != kid {
		t.Fatalf("keys: %+v, %v", keys, err)
	}
	if err := b.RemoveKey(ctx, kid); callvault.ErrorCode(err) != callvault.EINVALID {
		t.Errorf("removing the signing key: %v", err)
	}
	if err := b.RemoveKey(ctx, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	if keys, _ := a.Keys(ctx); len(keys) != 1 || keys[0].ID != kid {
		t.Errorf("after the removal: %+v", keys)
	}
}

func TestATokenOfAnUnknownKidReadsTheKeysAtMostOnceASecond(t *testing.T) {
	store := newMemStore()
	home := identity.Open(store, t.TempDir(), "")
	signer, err := home.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	verifier := signer.Verifier(auth.VerifierOptions{})
	other, _ := auth.SignerFromPEM(mustKeys(t))
	store.mu.Lock()
	before := store.loads
	store.mu.Unlock()
	for range 50 {
		forged, _ := other.Mint(auth.TokenOptions{Tenant: "contoso.onmicrosoft.com"})
		if _, err := verifier.Verify(forged); err == nil {
			t.Fatal("a token of a key not in the store verifies")
		}
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if n := store.loads - before; n > 1 {
		t.Errorf("50 forged tokens read the keys %d times", n)
	}
}

func mustKeys(t *testing.T) []byte {
	t.Helper()
	data, err := auth.NewSigningKeysPEM(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestADataDirectorysAppsAndCAAreImportedOnce(t *testing.T) {
	dir := t.TempDir()
	file := auth.OpenApps(filepath.Join(dir, auth.AppsFile))
	app, secret, err := file.Add(auth.NewApp{Tenant: "contoso.onmicrosoft.com", Name: "reader"})
	if err != nil {
		t.Fatal(err)
	}
	ca, caPath, err := tlsca.OpenDir(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	store := newMemStore()
	home := identity.Open(store, dir, "")
	apps, err := home.Apps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apps.Authenticate(app.Tenant, app.ClientID, secret, time.Now()); err != nil {
		t.Errorf("the imported app: %v", err)
	}
	got, err := home.CA(ctx, time.Now())
	if err != nil || !got.Cert.Equal(ca.Cert) {
		t.Errorf("the store's CA is not the data directory's (%v)", err)
	}

	// Changes on either side stay there.
	if _, _, err := file.Add(auth.NewApp{Tenant: "contoso.onmicrosoft.com", Name: "late"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := apps.Add(auth.NewApp{Tenant: "contoso.onmicrosoft.com", Name: "in the store"}); err != nil {
		t.Fatal(err)
	}
	again, _ := identity.Open(store, dir, "").Apps(ctx)
	list, _ := again.List()
	var names []string
	for _, a := range list {
		names = append(names, a.Name)
	}
	if strings.Join(names, ",") != "reader,in the store" {
		t.Errorf("the store's apps: %v", names)
	}
	if list, _ := file.List(); len(list) != 2 || list[1].Name != "late" {
		t.Errorf("the file changed: %+v", list)
	}

	// Another data directory, on the same store, has the same CA, and
	// writes its certificate where SSL_CERT_FILE can name it.
	other := t.TempDir()
	path, err := identity.Open(store, other, "").CAFile(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(caPath)
	if path != filepath.Join(other, tlsca.DirName, tlsca.CertFile) || !bytes.Equal(a, b) {
		t.Errorf("CA file %s differs from the imported one", path)
	}
	cert, where, err := identity.Open(store, other, "").ServerCertificate(ctx, []string{"localhost"}, time.Now())
	if err != nil || where != "" || cert.Leaf.CheckSignatureFrom(ca.Cert) != nil {
		t.Errorf("server certificate: %q %v", where, err)
	}
	if _, err := os.Stat(filepath.Join(other, tlsca.DirName, tlsca.KeyFile)); err == nil {
		t.Error("the CA's key was written to a data directory")
	}
}

func TestADamagedCAInTheStoreSaysWhatToDo(t *testing.T) {
	store := newMemStore()
	store.secrets[callvault.LocalCASecret] = []byte("junk")
	_, err := identity.Open(store, t.TempDir(), "").CA(ctx, time.Now())
	if err == nil || !strings.Contains(err.Error(), `delete the "tls-ca" row`) {
		t.Errorf("%v", err)
	}
}

func TestADamagedAppsFileIsNotImported(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, auth.AppsFile), []byte("{"), 0o600)
	store := newMemStore()
	if _, err := identity.Open(store, dir, "").Apps(ctx); err == nil {
		t.Error("no error")
	}
	if store.secrets[callvault.AppsSecret] != nil {
		t.Error("imported")
	}
}

func TestAnAppsFileNamedIsUsedWhateverTheStore(t *testing.T) {
	file := filepath.Join(t.TempDir(), "apps.json")
	apps, err := identity.Open(newMemStore(), t.TempDir(), file).Apps(ctx)
	if err != nil || apps.Path() != file {
		t.Errorf("%v %v", apps.Path(), err)
	}
}
