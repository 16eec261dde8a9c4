package auth_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault/auth"
)

// A secret that passed PBKDF2 is checked by its SHA-256 from then on; a
// wrong one pays PBKDF2 every time; and the registry still decides: an
// expired or removed secret is refused however it was checked before.
func TestAuthenticateRemembersSecretsThatPassed(t *testing.T) {
	apps := auth.OpenApps(filepath.Join(t.TempDir(), auth.AppsFile))
	app, secret, err := apps.Add(auth.NewApp{Tenant: tenant, Name: "reader", SecretTTL: time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	checks, release, restore := auth.HoldSecretChecks()
	defer restore()
	close(release) // counted, not held
	for i := range 3 {
		if _, err := apps.Authenticate(tenant, app.ClientID, secret, now); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if n := checks(); n != 1 {
		t.Errorf("three requests with the right secret ran PBKDF2 %d times, want once", n)
	}
	for range 2 {
		if _, err := apps.Authenticate(tenant, app.ClientID, secret+"x", now); !errors.Is(err, auth.ErrWrongSecret) {
			t.Fatalf("a wrong secret: %v", err)
		}
	}
	if n := checks(); n != 3 {
		t.Errorf("two requests with a wrong secret: PBKDF2 %d times in all, want 3", n)
	}
	if _, err := apps.Authenticate(tenant, app.ClientID, secret, now.Add(2*time.Hour)); !errors.Is(err, auth.ErrSecretExpired) {
		t.Errorf("a remembered secret past its expiry: %v, want ErrSecretExpired", err)
	}
	if _, err := apps.Authenticate(otherTenant, app.ClientID, secret, now); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("a remembered secret in another tenant: %v, want ErrUnknownApp", err)
	}
	if _, err := apps.Remove(app.ClientID); err != nil {
		t.Fatal(err)
	}
	if _, err := apps.Authenticate(tenant, app.ClientID, secret, now); !errors.Is(err, auth.ErrUnknownApp) {
		t.Errorf("a remembered secret of a removed app: %v, want ErrUnknownApp", err)
	}
}

// Requests with the same secret at once share one check; beyond
// MaxSecretChecks different checks in flight, Authenticate answers ErrBusy
// at once instead of queueing more work for the cores.
func TestAuthenticateBoundsTheChecksInFlight(t *testing.T) {
	apps := auth.OpenApps(filepath.Join(t.TempDir(), auth.AppsFile))
	app, secret, err := apps.Add(auth.NewApp{Tenant: tenant, Name: "reader", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	checks, release, restore := auth.HoldSecretChecks()
	defer restore()

	const same = 20
	var wg sync.WaitGroup
	errs := make(chan error, same+auth.MaxSecretChecks)
	for range same {
		wg.Go(func() {
			_, err := apps.Authenticate(tenant, app.ClientID, secret, now)
			errs <- err
		})
	}
	// One check runs (held); the others wait for it. Fill the rest of the
	// bound with wrong secrets, each a check of its own.
	for i := range auth.MaxSecretChecks - 1 {
		wg.Go(func() {
			_, err := apps.Authenticate(tenant, app.ClientID, fmt.Sprintf("wrong-%d", i), now)
			errs <- err
		})
	}
	waitFor(t, func() bool { return auth.SecretChecksInFlight(apps) == auth.MaxSecretChecks })
	if _, err := apps.Authenticate(tenant, app.ClientID, "one too many", now); !errors.Is(err, auth.ErrBusy) {
		close(release)
		t.Fatalf("with %d checks in flight: %v, want ErrBusy", auth.MaxSecretChecks, err)
	}
	close(release)
	wg.Wait()
	close(errs)
	right, wrong := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			right++
		case errors.Is(err, auth.ErrWrongSecret):
			wrong++
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	if right != same || wrong != auth.MaxSecretChecks-1 {
		t.Errorf("%d right and %d wrong answered, want %d and %d", right, wrong, same, auth.MaxSecretChecks-1)
	}
	if n := checks(); n != auth.MaxSecretChecks {
		t.Errorf("%d PBKDF2 checks, want one for the %d requests with the right secret and one for each wrong one", n, same)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}
