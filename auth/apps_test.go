package auth_test

import (
	"errors"
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

func TestApps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", auth.AppsFile)
	apps := auth.OpenApps(path)

	app, secret, err := apps.Add(auth.NewApp{Tenant: tenant, Name: "quality dashboard", Roles: []string{auth.RoleCallRecordsReadAll, auth.RoleCallRecordsReadAll}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a new app gets a GUID, its roles once, and a 40-character secret shown once", func(t *testing.T) {
		if len(app.ClientID) != 36 || app.ClientID[14] != '4' {
			t.Errorf("client id %q is not a random GUID", app.ClientID)
		}
		if !slices.Equal(app.Roles, []string{auth.RoleCallRecordsReadAll}) {
			t.Errorf("roles = %q", app.Roles)
		}
		if len(secret) != 40 || app.Secrets[0].Hint != secret[:3] || app.Secrets[0].Expires != nil {
			t.Errorf("secret %q, stored %+v", secret, app.Secrets[0])
		}
	})

	t.Run("the registry file is private and holds a hash, never the secret", func(t *testing.T) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), secret) || strings.Contains(string(data), secret[3:]) {
			t.Fatal("the secret is in the registry file")
		}
		if !strings.Contains(string(data), `"hash": "pbkdf2-sha256$100000$`) {
			t.Errorf("no PBKDF2 hash in:\n%s", data)
		}
		info, _ := os.Stat(path)
		if info.Mode().Perm() != 0o600 {
			t.Errorf("mode %o, want 600", info.Mode().Perm())
		}
	})

	t.Run("the secret authenticates the app in its tenant only", func(t *testing.T) {
		got, err := apps.Authenticate(tenant, app.ClientID, secret, now)
		if err != nil || got.ClientID != app.ClientID {
			t.Fatalf("Authenticate = %+v, %v", got, err)
		}
		// Client ids are GUIDs: any case will do, as on Entra ID.
		if _, err := apps.Authenticate(tenant, strings.ToUpper(app.ClientID), secret, now); err != nil {
			t.Errorf("upper-case client id: %v", err)
		}
		// The secret with its last character changed (to another one: a
		// fixed replacement would be the secret itself one time in 64).
		last := "x"
		if strings.HasSuffix(secret, last) {
			last = "y"
		}
		wrong := secret[:len(secret)-1] + last
		for name, tc := range map[string]struct {
			tenant, client, secret string
			want                   error
		}{
			"a wrong secret":        {tenant, app.ClientID, wrong, auth.ErrWrongSecret},
			"an empty secret":       {tenant, app.ClientID, "", auth.ErrWrongSecret},
			"the secret's hint":     {tenant, app.ClientID, secret[:3], auth.ErrWrongSecret},
			"another tenant":        {otherTenant, app.ClientID, secret, auth.ErrUnknownApp},
			"an unknown client id":  {tenant, "00000000-0000-0000-0000-000000000000", secret, auth.ErrUnknownApp},
			"the secret id as such": {tenant, app.ClientID, app.Secrets[0].ID, auth.ErrWrongSecret},
		} {
			if _, err := apps.Authenticate(tc.tenant, tc.client, tc.secret, now); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", name, err, tc.want)
			}
		}
	})

	t.Run("an expired secret is refused as expired", func(t *testing.T) {
		short, s, err := apps.Add(auth.NewApp{Tenant: tenant, Name: "short-lived", SecretTTL: time.Hour, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := apps.Authenticate(tenant, short.ClientID, s, now.Add(59*time.Minute)); err != nil {
			t.Errorf("before expiry: %v", err)
		}
		if _, err := apps.Authenticate(tenant, short.ClientID, s, now.Add(time.Hour)); !errors.Is(err, auth.ErrSecretExpired) {
			t.Errorf("at expiry: %v, want ErrSecretExpired", err)
		}
		if len(short.Roles) != 0 {
			t.Errorf("an app added without roles has %q", short.Roles)
		}
	})

	t.Run("another registry on the same file sees changes at once", func(t *testing.T) {
		other := auth.OpenApps(path) // a serving process
		if _, err := other.Authenticate(tenant, app.ClientID, secret, now); err != nil {
			t.Fatal(err)
		}
		added, s, err := apps.Add(auth.NewApp{Tenant: otherTenant, Name: "late", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Authenticate(otherTenant, added.ClientID, s, now); err != nil {
			t.Errorf("an app added after the first read: %v", err)
		}
		if _, err := apps.Remove(added.ClientID); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Authenticate(otherTenant, added.ClientID, s, now); !errors.Is(err, auth.ErrUnknownApp) {
			t.Errorf("a removed app: %v, want ErrUnknownApp", err)
		}
	})

	t.Run("bad registrations are refused", func(t *testing.T) {
		for name, tc := range map[string]struct {
			app     auth.NewApp
			message string
		}{
			"a duplicate name in a tenant": {auth.NewApp{Tenant: tenant, Name: "Quality Dashboard"},
				"Tenant '" + tenant + "' already has an app named 'quality dashboard' (client id " + app.ClientID + ")."},
			"no name":             {auth.NewApp{Tenant: tenant, Name: "  "}, "An app needs a name of 1 to 120 printable characters."},
			"a bad tenant":        {auth.NewApp{Tenant: "a/b", Name: "x"}, "'a/b' is not a tenant id or domain name."},
			"a role with a space": {auth.NewApp{Tenant: tenant, Name: "x", Roles: []string{"Call Records"}}, "'Call Records' is not a role name."},
			"a negative lifetime": {auth.NewApp{Tenant: tenant, Name: "x", SecretTTL: -time.Second}, "The secret lifetime must not be negative; got -1s."},
		} {
			_, _, err := apps.Add(tc.app)
			if callvault.ErrorCode(err) != callvault.EINVALID || callvault.ErrorMessage(err) != tc.message {
				t.Errorf("%s: %v, want %q", name, err, tc.message)
			}
		}
		_, err := apps.Remove("nope")
		wantError(t, err, callvault.ENOTFOUND, "No app has the client id 'nope'.")
	})

	t.Run("apps added at once all land", func(t *testing.T) {
		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, _, errs[i] = auth.OpenApps(path).Add(auth.NewApp{Tenant: tenant, Name: "parallel " + string(rune('a'+i))})
			})
		}
		wg.Wait()
		list, err := apps.List()
		if err != nil {
			t.Fatal(err)
		}
		count := 0
		for _, a := range list {
			if strings.HasPrefix(a.Name, "parallel ") {
				count++
			}
		}
		if count != n || errors.Join(errs...) != nil {
			t.Errorf("%d of %d apps registered (%v)", count, n, errors.Join(errs...))
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Errorf("%d files beside the registry, want none (no lock or temporary file left)", len(entries)-1)
		}
	})

	t.Run("a damaged registry is an error, not an empty one", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "apps.json")
		os.WriteFile(bad, []byte(`{"apps": [`), 0o600)
		if _, err := auth.OpenApps(bad).Authenticate(tenant, app.ClientID, secret, now); err == nil || errors.Is(err, auth.ErrUnknownApp) {
			t.Errorf("Authenticate on a damaged file: %v", err)
		}
		if _, _, err := auth.OpenApps(bad).Add(auth.NewApp{Tenant: tenant, Name: "x"}); err == nil {
			t.Error("Add overwrote a damaged file")
		}
	})
}
