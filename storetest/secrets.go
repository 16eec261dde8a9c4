package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// RunSecrets runs the conformance suite of the optional
// callvault.SecretUpdater capability. Its subtests use secret names of their
// own, so they may share one database.
func RunSecrets(t *testing.T, open func(t *testing.T) callvault.Store) {
	run := fmt.Sprintf("storetest-%d", time.Now().UnixNano())
	store := func(t *testing.T) callvault.SecretUpdater {
		t.Helper()
		st := open(t)
		t.Cleanup(func() { st.Close() })
		su, ok := st.(callvault.SecretUpdater)
		if !ok {
			t.Skip("the store keeps no secrets it can update")
		}
		return su
	}
	ctx := context.Background()

	t.Run("a secret is absent, created, changed and read back", func(t *testing.T) {
		su, name := store(t), run+"-life"
		if v, err := su.LoadSecret(ctx, name); err != nil || v != nil {
			t.Fatalf("an absent secret: %q, %v; want nil, nil", v, err)
		}
		for i, want := range []string{"one", "one+two"} {
			got, err := su.UpdateSecret(ctx, name, func(old []byte) ([]byte, error) {
				if i == 0 && old != nil || i == 1 && string(old) != "one" {
					return nil, fmt.Errorf("change saw %q", old)
				}
				if old == nil {
					return []byte("one"), nil
				}
				return append(old, "+two"...), nil
			})
			if err != nil || string(got) != want {
				t.Fatalf("update %d: %q, %v; want %q", i, got, err, want)
			}
			if v, err := su.LoadSecret(ctx, name); err != nil || string(v) != want {
				t.Errorf("read back after update %d: %q, %v; want %q", i, v, err, want)
			}
		}
	})

	t.Run("a change that fails writes nothing and returns its error", func(t *testing.T) {
		su, name := store(t), run+"-fail"
		refused := errors.New("refused")
		for _, old := range []string{"", "kept"} {
			if old != "" {
				su.UpdateSecret(ctx, name, func([]byte) ([]byte, error) { return []byte(old), nil })
			}
			_, err := su.UpdateSecret(ctx, name, func([]byte) ([]byte, error) { return nil, refused })
			if !errors.Is(err, refused) {
				t.Errorf("with %q stored: %v; want the change's error", old, err)
			}
			v, _ := su.LoadSecret(ctx, name)
			if string(v) != old {
				t.Errorf("with %q stored, after a failed change: %q", old, v)
			}
		}
	})

	t.Run("a secret unchanged is returned as stored", func(t *testing.T) {
		su, name := store(t), run+"-same"
		first, _ := su.UpdateSecret(ctx, name, func([]byte) ([]byte, error) { return []byte("first"), nil })
		got, err := su.UpdateSecret(ctx, name, func(old []byte) ([]byte, error) {
			if old != nil {
				return old, nil // load or create
			}
			return []byte("second"), nil
		})
		if err != nil || !bytes.Equal(got, first) {
			t.Errorf("%q, %v; want %q", got, err, first)
		}
	})

	t.Run("updates made at once lose nothing, from the first", func(t *testing.T) {
		su, name := store(t), run+"-race"
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, err := su.UpdateSecret(ctx, name, func(old []byte) ([]byte, error) {
					return append(bytes.Clone(old), byte('a'+i)), nil
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		v, _ := su.LoadSecret(ctx, name)
		if len(v) != n {
			t.Fatalf("after %d updates at once the secret is %q", n, v)
		}
		for i := range n {
			if bytes.Count(v, []byte{byte('a' + i)}) != 1 {
				t.Errorf("update %c is lost or doubled: %q", 'a'+i, v)
			}
		}
	})
}
