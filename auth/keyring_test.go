package auth_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
)

func kids(s *auth.Signer) []string {
	var ids []string
	for _, k := range s.Keys() {
		ids = append(ids, k.ID)
	}
	return ids
}

func jwksKids(s *auth.Signer) []string {
	var ids []string
	for _, k := range s.JWKS().Keys {
		ids = append(ids, k.KeyID)
	}
	return ids
}

func TestKeyRotation(t *testing.T) {
	t.Run("a rotated key signs, and the old key's tokens stay valid until they expire", func(t *testing.T) {
		dir := t.TempDir()
		serving, err := auth.LoadOrCreateSigner(dir) // a running server's signer
		if err != nil {
			t.Fatal(err)
		}
		verifier := serving.Verifier(auth.VerifierOptions{Now: func() time.Time { return now.Add(30 * time.Minute) }})
		old := serving.KeyID()
		oldToken, err := serving.Mint(auth.TokenOptions{Tenant: tenant, Now: now})
		if err != nil {
			t.Fatal(err)
		}

		kid, err := auth.RotateSigningKey(dir, now) // "callvault keys rotate" in another process
		if err != nil {
			t.Fatal(err)
		}
		if kid == old {
			t.Fatal("rotation kept the old kid")
		}
		if got := serving.KeyID(); got != kid {
			t.Errorf("the running signer signs with %s, want the new key %s", got, kid)
		}
		newToken, err := serving.Mint(auth.TokenOptions{Tenant: tenant, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := decode(t, newToken); h["kid"] != kid {
			t.Errorf("a new token has kid %v, want %s", h["kid"], kid)
		}
		for name, tok := range map[string]string{"old": oldToken, "new": newToken} {
			if _, err := verifier.Verify(tok); err != nil {
				t.Errorf("the %s key's token: %v", name, err)
			}
		}
		if want := []string{old, kid}; !slices.Equal(kids(serving), want) || !slices.Equal(jwksKids(serving), want) {
			t.Errorf("keys %v, JWKS %v; want both, oldest first: %v", kids(serving), jwksKids(serving), want)
		}
		keys := serving.Keys()
		if keys[0].Signing || !keys[1].Signing || !keys[1].Created.Equal(now) {
			t.Errorf("keys = %+v: want the new one signing, created at %v", keys, now)
		}

		// After it expires, the old token is refused like any expired one.
		late := serving.Verifier(auth.VerifierOptions{Now: func() time.Time { return now.Add(2 * time.Hour) }})
		_, err = late.Verify(oldToken)
		wantError(t, err, callvault.EUNAUTHORIZED, "Lifetime validation failed, the token is expired.")

		// A verifier made before the rotation knows the new key without
		// being told: an unknown kid makes it look at the file again.
		fresh, err := auth.LoadOrCreateSigner(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fresh.KeyID() != kid {
			t.Errorf("a signer loaded after the rotation signs with %s, want %s", fresh.KeyID(), kid)
		}
	})

	t.Run("removing a retired key refuses its tokens at once", func(t *testing.T) {
		dir := t.TempDir()
		s, err := auth.LoadOrCreateSigner(dir)
		if err != nil {
			t.Fatal(err)
		}
		old := s.KeyID()
		oldToken, _ := s.Mint(auth.TokenOptions{Tenant: tenant})
		if _, err := auth.RotateSigningKey(dir, time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := auth.RemoveSigningKey(dir, old); err != nil {
			t.Fatal(err)
		}
		_, err = s.Verifier(auth.VerifierOptions{}).Verify(oldToken)
		wantError(t, err, callvault.EUNAUTHORIZED, "Signature validation failed: no signing key with kid '"+old+"' is known; "+
			"the token comes from an issuer this server does not trust, or its key was rotated.")
	})

	t.Run("the signing key cannot be removed, nor an unknown one", func(t *testing.T) {
		dir := t.TempDir()
		s, err := auth.LoadOrCreateSigner(dir)
		if err != nil {
			t.Fatal(err)
		}
		err = auth.RemoveSigningKey(dir, s.KeyID())
		wantError(t, err, callvault.EINVALID, "Key '"+s.KeyID()+"' is the newest key and signs new tokens; rotate to a new key before removing it.")
		err = auth.RemoveSigningKey(dir, "nope")
		wantError(t, err, callvault.ENOTFOUND, "There is no signing key with kid 'nope'.")
	})

	t.Run("rotations run at once all land", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := auth.LoadOrCreateSigner(dir); err != nil {
			t.Fatal(err)
		}
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { _, errs[i] = auth.RotateSigningKey(dir, time.Now()) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		s, err := auth.LoadOrCreateSigner(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(s.Keys()); got != n+1 {
			t.Errorf("%d keys after %d rotations, want %d", got, n, n+1)
		}
		entries, _ := os.ReadDir(dir)
		if names := entryNames(entries); !slices.Equal(names, []string{auth.ChangesFile, auth.SigningKeyFile}) {
			t.Errorf("the data directory holds %q, want only the key file and its change counter (no lock or temporary file left)", names)
		}
	})

	t.Run("a key file damaged while serving keeps the keys read before for verification, and stops signing", func(t *testing.T) {
		dir := t.TempDir()
		s, err := auth.LoadOrCreateSigner(dir)
		if err != nil {
			t.Fatal(err)
		}
		token, _ := s.Mint(auth.TokenOptions{Tenant: tenant})
		// A hand edit is not counted (changes.go): it is seen by the stat
		// made at most every statEvery.
		defer auth.SetStatEvery(10 * time.Millisecond)()
		if err := os.WriteFile(filepath.Join(dir, auth.SigningKeyFile), []byte("oops"), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if _, err := s.Verifier(auth.VerifierOptions{}).Verify(token); err != nil {
			t.Errorf("verification stopped: %v", err)
		}
		if _, err := s.Mint(auth.TokenOptions{Tenant: tenant}); err == nil || !strings.Contains(err.Error(), "signing key") {
			t.Errorf("Mint on a damaged key file: %v, want an error naming the key file", err)
		}
	})

	t.Run("a signer of fixed keys signs with the last", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := auth.LoadOrCreateSigner(dir); err != nil {
			t.Fatal(err)
		}
		kid, err := auth.RotateSigningKey(dir, now)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(dir, auth.SigningKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		s, err := auth.SignerFromPEM(data)
		if err != nil {
			t.Fatal(err)
		}
		if s.KeyID() != kid || len(s.Keys()) != 2 {
			t.Errorf("signer of the file's PEM: kid %s and %d keys, want %s and 2", s.KeyID(), len(s.Keys()), kid)
		}
		token, err := s.Mint(auth.TokenOptions{Tenant: tenant})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verifier(auth.VerifierOptions{}).Verify(token); err != nil {
			t.Error(err)
		}
	})
}

func TestJWK(t *testing.T) {
	s, key := newSigner(t)
	set := s.JWKS()
	if len(set.Keys) != 1 {
		t.Fatalf("%d keys", len(set.Keys))
	}
	k := set.Keys[0]
	if k.KeyType != "RSA" || k.Use != "sig" || k.KeyID != s.KeyID() || k.E != "AQAB" {
		t.Errorf("JWK = %+v", k)
	}
	pub, err := k.PublicKey()
	if err != nil || !pub.Equal(&key.PublicKey) {
		t.Errorf("the JWK's key is not the signer's: %v", err)
	}
	for name, bad := range map[string]auth.JWK{
		"an EC key":          {KeyType: "EC", KeyID: "x"},
		"an encryption key":  {KeyType: "RSA", Use: "enc", N: k.N, E: k.E},
		"a key without n":    {KeyType: "RSA", E: k.E},
		"a 1024-bit key":     {KeyType: "RSA", N: k.N[:len(k.N)/2], E: k.E},
		"an even exponent":   {KeyType: "RSA", N: k.N, E: "Ag"},
		"n that is not b64u": {KeyType: "RSA", N: "!!", E: k.E},
	} {
		if _, err := bad.PublicKey(); err == nil {
			t.Errorf("%s was accepted", name)
		}
	}
}

// entryNames returns the names of a directory's entries, sorted.
func entryNames(entries []os.DirEntry) []string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	slices.Sort(names)
	return names
}

func TestKeyCommandsAreSeenWithoutAStatPerToken(t *testing.T) {
	// With the stat of unannounced changes an hour away, only the change
	// counter can tell the verifier of a rotation or a removal.
	defer auth.SetStatEvery(time.Hour)()
	dir := t.TempDir()
	s, err := auth.LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	v := s.Verifier(auth.VerifierOptions{CacheSize: -1}) // every token checked in full
	old := s.KeyID()
	oldToken, _ := s.Mint(auth.TokenOptions{Tenant: tenant})
	if _, err := v.Verify(oldToken); err != nil {
		t.Fatal(err)
	}

	stats, restore := auth.CountKeyFileStats()
	defer restore()
	for range 1000 {
		if _, err := v.Verify(oldToken); err != nil {
			t.Fatal(err)
		}
	}
	if n := stats(); n != 0 {
		t.Errorf("%d stats of the key file for 1000 tokens, want none", n)
	}

	// "callvault keys rotate" in another process: the next token is signed
	// with the new key, which the verifier knows at once.
	kid, err := auth.RotateSigningKey(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != kid {
		t.Errorf("signing with %s after a rotation to %s", s.KeyID(), kid)
	}
	newToken, _ := s.Mint(auth.TokenOptions{Tenant: tenant})
	if _, err := v.Verify(newToken); err != nil {
		t.Errorf("a token of the rotated key: %v", err)
	}
	// "callvault keys remove": the old key's tokens are refused at once.
	if err := auth.RemoveSigningKey(dir, old); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(oldToken); err == nil {
		t.Error("a token of a removed key was accepted")
	}
	if _, err := v.Verify(newToken); err != nil {
		t.Errorf("a token of the remaining key: %v", err)
	}
	if n := stats(); n != 2 {
		t.Errorf("%d stats of the key file for two changes, want 2: one at the first use after each", n)
	}
}
