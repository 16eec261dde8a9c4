package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"runtime"
	"sync"
)

// ErrBusy is Authenticate's error when too many client secrets are being
// checked at once; the token endpoint answers it as Entra ID answers a
// client it throttles, 429 with Retry-After.
var ErrBusy = errors.New("auth: too many client secret checks at once")

// maxSecretChecks bounds the PBKDF2 checks in flight, running or waiting
// for a core: 16 take a few hundred milliseconds to drain on two cores.
const maxSecretChecks = 16

// maxProvenSecrets bounds what secretChecks remembers. Only secrets that
// passed PBKDF2 are remembered, so the registry's size bounds it already;
// this bounds the hashes of secrets removed since.
const maxProvenSecrets = 4096

// secretChecks keeps the token endpoint cheap for the clients it knows and
// bounded for the others. A stored hash is 100,000 rounds of PBKDF2 (some
// 15 ms of a core), which every token request paid: a test suite asking
// for a token per test spent seconds on it, and requests with wrong secrets
// could take every core from the server.
//   - A secret that passed is remembered, by the stored hash it matched, as
//     its SHA-256: the next request with it costs one hash. A hash removed
//     from the registry is never looked up again, and expiry is checked
//     after the match, so a remembered secret is refused as the registry
//     says.
//   - Requests with the same app and secret at once share one check.
//   - At most half the cores run checks, and at most maxSecretChecks are in
//     flight; beyond, ErrBusy.
type secretChecks struct {
	mu       sync.Mutex
	slots    chan struct{}                // a token for each check running
	proven   map[string][sha256.Size]byte // stored hash → SHA-256 of the secret that matched it
	inFlight map[checkKey]*secretCheck
}

type checkKey struct {
	tenant, clientID string
	digest           [sha256.Size]byte
}

// secretCheck is a check in flight; hash is the stored hash that matched,
// "" if none, once done is closed.
type secretCheck struct {
	done chan struct{}
	hash string
}

// checkSecretHash is checkSecret, replaced in tests to count or hold the
// checks.
var checkSecretHash = checkSecret

// match returns the secret of app that secret is, if any.
func (c *secretChecks) match(app App, secret string) (Secret, bool, error) {
	digest := sha256.Sum256([]byte(secret))
	c.mu.Lock()
	if c.slots == nil {
		c.slots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))
		c.proven = map[string][sha256.Size]byte{}
		c.inFlight = map[checkKey]*secretCheck{}
	}
	for _, s := range app.Secrets {
		if d, ok := c.proven[s.Hash]; ok && subtle.ConstantTimeCompare(d[:], digest[:]) == 1 {
			c.mu.Unlock()
			return s, true, nil
		}
	}
	key := checkKey{app.Tenant, app.ClientID, digest}
	ch, running := c.inFlight[key]
	if !running {
		if len(c.inFlight) >= maxSecretChecks {
			c.mu.Unlock()
			return Secret{}, false, ErrBusy
		}
		ch = &secretCheck{done: make(chan struct{})}
		c.inFlight[key] = ch
	}
	c.mu.Unlock()

	if running {
		<-ch.done
	} else {
		c.slots <- struct{}{}
		for _, s := range app.Secrets {
			if checkSecretHash(secret, s.Hash) {
				ch.hash = s.Hash
				break
			}
		}
		<-c.slots
		c.mu.Lock()
		delete(c.inFlight, key)
		if ch.hash != "" {
			if len(c.proven) >= maxProvenSecrets {
				clear(c.proven)
			}
			c.proven[ch.hash] = digest
		}
		c.mu.Unlock()
		close(ch.done)
	}
	if ch.hash != "" {
		for _, s := range app.Secrets {
			if s.Hash == ch.hash {
				return s, true, nil
			}
		}
	}
	return Secret{}, false, nil
}
