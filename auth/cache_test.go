package auth_test

import (
	"context"
	"crypto/rsa"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
)

const (
	expiredMessage     = "Lifetime validation failed, the token is expired."
	notYetValidMessage = "Lifetime validation failed, the token is not yet valid."
)

// mustVerify verifies token and fails t if it is refused.
func mustVerify(t *testing.T, v *auth.Verifier, token string) *auth.Principal {
	t.Helper()
	p, err := v.Verify(token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return p
}

// Every full verification makes a new *Principal, so getting the same
// pointer again means the token was served from the cache.

func TestTokenCacheHit(t *testing.T) {
	signer, key := newSigner(t)
	header := map[string]any{"typ": "JWT", "alg": "RS256", "kid": signer.KeyID()}
	v := signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }})
	token := forge(t, header, appClaims(), rs256(t, key))

	p := mustVerify(t, v, token)
	if again := mustVerify(t, v, token); again != p {
		t.Errorf("the second Verify of a token made a new principal %p, want the cached %p", again, p)
	}
	if n := auth.CachedTokens(v); n != 1 {
		t.Errorf("%d tokens cached, want 1", n)
	}
	if p.Tenant != tenant || p.AppID != app || len(p.Roles) != 1 || p.Roles[0] != auth.RoleCallRecordsReadAll {
		t.Errorf("principal %+v", p)
	}

	t.Run("a token of other bytes is another entry", func(t *testing.T) {
		other := forge(t, header, with(map[string]any{"uti": "another"}), rs256(t, key))
		if q := mustVerify(t, v, other); q == p {
			t.Error("a token with other bytes got the first token's principal")
		}
	})

	t.Run("a bad token is never cached", func(t *testing.T) {
		before := auth.CachedTokens(v)
		bad := forge(t, header, with(map[string]any{"aud": "https://example.com"}), rs256(t, key))
		for range 2 {
			if _, err := v.Verify(bad); err == nil {
				t.Fatal("a token of another audience was accepted")
			}
		}
		if n := auth.CachedTokens(v); n != before {
			t.Errorf("%d tokens cached after a bad one, want %d", n, before)
		}
	})

	t.Run("ClearCache forgets", func(t *testing.T) {
		v.ClearCache()
		if n := auth.CachedTokens(v); n != 0 {
			t.Errorf("%d tokens cached after ClearCache", n)
		}
		if again := mustVerify(t, v, token); again == p {
			t.Error("the token was served from a cleared cache")
		}
	})

	t.Run("a negative CacheSize turns the cache off", func(t *testing.T) {
		off := signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }, CacheSize: -1})
		if first := mustVerify(t, off, token); mustVerify(t, off, token) == first {
			t.Error("the same principal twice without a cache")
		}
		if n := auth.CachedTokens(off); n != 0 {
			t.Errorf("%d tokens cached without a cache", n)
		}
	})
}

func TestTokenCacheLifetime(t *testing.T) {
	signer, key := newSigner(t)
	header := map[string]any{"typ": "JWT", "alg": "RS256", "kid": signer.KeyID()}
	clk := &clock{t: now}
	v := signer.Verifier(auth.VerifierOptions{Now: clk.now}) // two minutes of skew

	t.Run("an expired token is refused though it is cached", func(t *testing.T) {
		clk.t = now
		token := forge(t, header, with(map[string]any{"exp": now.Add(3 * time.Minute).Unix()}), rs256(t, key))
		p := mustVerify(t, v, token)
		clk.advance(4*time.Minute + 59*time.Second) // exp + skew is 5 minutes on
		if got := mustVerify(t, v, token); got != p {
			t.Error("a token within its exp and the skew was not served from the cache")
		}
		clk.advance(time.Second) // exactly exp + skew: expired, as the parser has it
		_, err := v.Verify(token)
		wantError(t, err, callvault.EUNAUTHORIZED, expiredMessage)
		if n := auth.CachedTokens(v); n != 0 {
			t.Errorf("%d tokens cached, want the expired one dropped", n)
		}
	})

	t.Run("a token whose nbf is to come is refused, and not cached", func(t *testing.T) {
		clk.t = now
		v.ClearCache()
		token := forge(t, header, with(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}), rs256(t, key))
		for range 2 {
			_, err := v.Verify(token)
			wantError(t, err, callvault.EUNAUTHORIZED, notYetValidMessage)
		}
		if n := auth.CachedTokens(v); n != 0 {
			t.Errorf("%d tokens cached, want none", n)
		}
		clk.advance(8 * time.Minute) // nbf - skew
		mustVerify(t, v, token)
	})

	t.Run("a cached token whose nbf is to come again (the clock went back) is refused", func(t *testing.T) {
		clk.t = now
		v.ClearCache()
		token := forge(t, header, with(map[string]any{"nbf": now.Add(time.Minute).Unix()}), rs256(t, key))
		p := mustVerify(t, v, token) // within the skew
		clk.t = now.Add(-61 * time.Second)
		_, err := v.Verify(token)
		wantError(t, err, callvault.EUNAUTHORIZED, notYetValidMessage)
		clk.t = now
		if got := mustVerify(t, v, token); got == p {
			t.Error("the entry refused before was served again")
		}
	})

	t.Run("a cached verdict is checked again after five minutes", func(t *testing.T) {
		clk.t = now
		v.ClearCache()
		token := forge(t, header, appClaims(), rs256(t, key)) // valid for an hour
		p := mustVerify(t, v, token)
		clk.advance(4 * time.Minute)
		if mustVerify(t, v, token) != p {
			t.Error("not served from the cache after 4 minutes")
		}
		clk.advance(time.Minute)
		if mustVerify(t, v, token) == p {
			t.Error("served from the cache after 5 minutes")
		}
	})
}

func TestTokenCacheKeyChanges(t *testing.T) {
	t.Run("a removed key's cached tokens are refused at once", func(t *testing.T) {
		dir := t.TempDir()
		s, err := auth.LoadOrCreateSigner(dir)
		if err != nil {
			t.Fatal(err)
		}
		v := s.Verifier(auth.VerifierOptions{})
		old := s.KeyID()
		oldToken, _ := s.Mint(auth.TokenOptions{Tenant: tenant})
		p := mustVerify(t, v, oldToken)

		// "callvault keys rotate" in another process: the old token stays
		// valid (verified again, the key file having changed).
		if _, err := auth.RotateSigningKey(dir, time.Now()); err != nil {
			t.Fatal(err)
		}
		q := mustVerify(t, v, oldToken)
		if q == p {
			t.Error("a cached token was served across a change of the key file")
		}
		if mustVerify(t, v, oldToken) != q {
			t.Error("the token verified after the rotation was not cached")
		}

		// "callvault keys remove" in another process.
		if err := auth.RemoveSigningKey(dir, old); err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(oldToken)
		wantError(t, err, callvault.EUNAUTHORIZED, "Signature validation failed: no signing key with kid '"+old+"' is known; "+
			"the token comes from an issuer this server does not trust, or its key was rotated.")
	})

	t.Run("a key file replaced by one of other keys refuses the cached tokens", func(t *testing.T) {
		dir := t.TempDir()
		s, err := auth.LoadOrCreateSigner(dir)
		if err != nil {
			t.Fatal(err)
		}
		v := s.Verifier(auth.VerifierOptions{})
		token, _ := s.Mint(auth.TokenOptions{Tenant: tenant})
		mustVerify(t, v, token)

		other := t.TempDir()
		if _, err := auth.LoadOrCreateSigner(other); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(other, auth.SigningKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		// Replaced by hand: not counted (changes.go), seen by the stat made
		// at most every statEvery.
		defer auth.SetStatEvery(10 * time.Millisecond)()
		path := filepath.Join(dir, auth.SigningKeyFile)
		if err := os.WriteFile(path+".new", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if _, err := v.Verify(token); err == nil {
			t.Error("a token of a key no longer on file was accepted from the cache")
		}
	})

	t.Run("a remote issuer that drops a key refuses its cached tokens", func(t *testing.T) {
		entra := newFakeEntra(t, tenant)
		k1, k2 := newKeyOnce(t), newKey(t)
		entra.publish("k1", k1)
		cloud := auth.Cloud{Name: "test", LoginURL: entra.URL, GraphURL: auth.GraphResource}
		clk := &clock{t: now}
		issuers, err := auth.EntraIssuers(cloud, []string{tenant}, auth.RemoteOptions{Now: clk.now, MinRefresh: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if err := issuers.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		v := issuers.Verifier(auth.VerifierOptions{Now: clk.now})
		token := func(kid string, k *rsa.PrivateKey) string {
			return forge(t, map[string]any{"typ": "JWT", "alg": "RS256", "kid": kid}, appClaims(), rs256(t, k))
		}
		t1 := token("k1", k1)
		p := mustVerify(t, v, t1)

		// A forged kid makes the verifier fetch the keys again; they are the
		// same, so the cache is kept (a stream of forged kids cannot empty it).
		clk.advance(2 * time.Minute)
		if _, err := v.Verify(token("forged", k2)); err == nil {
			t.Fatal("a token of an unpublished key was accepted")
		}
		if n := entra.hitCount("/common/discovery/keys"); n != 2 {
			t.Fatalf("the key set was fetched %d times, want 2", n)
		}
		if mustVerify(t, v, t1) != p {
			t.Error("a fetch that changed nothing emptied the cache")
		}

		// Entra ID rolls its key: k1 is gone, k2 is in.
		entra.mu.Lock()
		delete(entra.keys, "k1")
		entra.mu.Unlock()
		entra.publish("k2", k2)
		clk.advance(2 * time.Minute)
		t2 := token("k2", k2)
		mustVerify(t, v, t2) // an unknown kid: fetches the new set
		_, err = v.Verify(t1)
		wantError(t, err, callvault.EUNAUTHORIZED, "Signature validation failed: no signing key with kid 'k1' is known; "+
			"the token comes from an issuer this server does not trust, or its key was rotated.")

		// So does a refresh at the operator's hand.
		entra.mu.Lock()
		delete(entra.keys, "k2")
		entra.mu.Unlock()
		entra.publish("k1", k1)
		if err := issuers.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(t2); err == nil {
			t.Error("a token of a dropped key was accepted from the cache after Refresh")
		}
	})
}

// The verifier does not consult the app registry: an app's roles are those
// its token carries, and a token stays valid until it expires even if its
// app is removed (docs/security.md). The cache must not blur tokens of one
// app: a token minted after a role is removed is its own entry and does not
// get the principal of an earlier token with the role.
func TestTokenCacheRolesAreTheToken(t *testing.T) {
	s, err := auth.LoadOrCreateSigner(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v := s.Verifier(auth.VerifierOptions{})
	withRole, _ := s.Mint(auth.TokenOptions{Tenant: tenant, AppID: app, Roles: []string{auth.RoleCallRecordsReadAll}})
	without, _ := s.Mint(auth.TokenOptions{Tenant: tenant, AppID: app, Roles: []string{}})
	if err := mustVerify(t, v, withRole).Require(auth.RoleCallRecordsReadAll); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		err := mustVerify(t, v, without).Require(auth.RoleCallRecordsReadAll)
		if callvault.ErrorCode(err) != callvault.EFORBIDDEN {
			t.Errorf("the token without the role: %v, want a 403", err)
		}
	}
	if err := mustVerify(t, v, withRole).Require(auth.RoleCallRecordsReadAll); err != nil {
		t.Errorf("the token with the role, cached: %v", err)
	}
}

func TestTokenCacheTamperedTokenNeverHits(t *testing.T) {
	signer, key := newSigner(t)
	header := map[string]any{"typ": "JWT", "alg": "RS256", "kid": signer.KeyID()}
	v := signer.Verifier(auth.VerifierOptions{Now: func() time.Time { return now }})
	token := forge(t, header, appClaims(), rs256(t, key))
	p := mustVerify(t, v, token)
	for i := range len(token) {
		b := []byte(token)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		q, err := v.Verify(string(b))
		if q == p {
			t.Fatalf("the token changed at byte %d got the cached principal", i)
		}
		// Only the signature's last character has bits base64 decoding
		// ignores; any other change must fail.
		if err == nil && i != len(token)-1 {
			t.Errorf("the token changed at byte %d was accepted", i)
		}
	}
	if mustVerify(t, v, token) != p {
		t.Error("the original token is no longer cached")
	}
}

func TestTokenCacheBound(t *testing.T) {
	s, err := auth.SignerFromPEM(mustPEM(t))
	if err != nil {
		t.Fatal(err)
	}
	const size = 8
	v := s.Verifier(auth.VerifierOptions{CacheSize: size})
	tokens := make([]string, 40)
	for i := range tokens {
		tokens[i], _ = s.Mint(auth.TokenOptions{Tenant: tenant, AppID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)})
	}
	for round := range 2 {
		for i, tok := range tokens {
			p := mustVerify(t, v, tok)
			if want := fmt.Sprintf("00000000-0000-4000-8000-%012d", i); p.AppID != want {
				t.Fatalf("round %d token %d: principal of app %s, want %s", round, i, p.AppID, want)
			}
			if n := auth.CachedTokens(v); n > size {
				t.Fatalf("%d tokens cached, the bound is %d", n, size)
			}
		}
	}
	if n := auth.CachedTokens(v); n != size {
		t.Errorf("%d tokens cached, want the cache full at %d", n, size)
	}
}

// mustPEM returns the key file of a new data directory.
func mustPEM(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	if _, err := auth.LoadOrCreateSigner(dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, auth.SigningKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Run with -race: verifications of good and bad tokens, evictions, key
// rotations and clears at once.
func TestTokenCacheConcurrent(t *testing.T) {
	dir := t.TempDir()
	s, err := auth.LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	v := s.Verifier(auth.VerifierOptions{CacheSize: 4})
	var good []string
	for i := range 6 {
		tok, _ := s.Mint(auth.TokenOptions{Tenant: tenant, AppID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)})
		good = append(good, tok)
	}
	bad, _ := s.Mint(auth.TokenOptions{Tenant: tenant, TTL: time.Nanosecond, Now: time.Now().Add(-time.Hour)})

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				tok := good[(g+i)%len(good)]
				p, err := v.Verify(tok)
				if err != nil {
					t.Errorf("good token: %v", err)
					return
				}
				if want := fmt.Sprintf("00000000-0000-4000-8000-%012d", (g+i)%len(good)); p.AppID != want {
					t.Errorf("principal of app %s, want %s", p.AppID, want)
					return
				}
				if _, err := v.Verify(bad); err == nil {
					t.Error("an expired token was accepted")
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if _, err := auth.RotateSigningKey(dir, time.Now()); err != nil {
				t.Error(err)
			}
			v.ClearCache()
		}
	})
	wg.Wait()
	if n := auth.CachedTokens(v); n > 4 {
		t.Errorf("%d tokens cached, the bound is 4", n)
	}
}
