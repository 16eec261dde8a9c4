package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/callvault/callvault/auth"
)

var keysCommand = command{
	name:    "keys",
	summary: "rotate the token signing keys",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &keysConfig{fs: fs}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose signing keys (signing-key.pem) are used")
		fs.StringVar(&c.db, "db", "", "refused: with a PostgreSQL database (serve's --db `URL`) the keys are in the database,\nwhich this command does not manage yet")
		describe(fs, "callvault keys rotate|list|remove [flags]", `
Manages the development issuer's signing keys, kept in DATA/signing-key.pem:

  callvault keys rotate       adds a new key, which signs every token from now on
                              (running servers pick it up on their next request);
                              tokens signed by the old keys stay valid until they
                              expire, and the key set (/{tenant}/discovery/v2.0/keys)
                              lists every key
  callvault keys list         lists the keys, oldest first; the last one signs
  callvault keys remove KID   retires an old key: tokens it signed stop verifying.
                              The signing key cannot be removed; rotate first.`)
		return c.run
	},
}

type keysConfig struct {
	fs       *flag.FlagSet
	data, db string
}

func (c *keysConfig) run(_ context.Context, args []string, std stdio) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: name what to do: rotate, list or remove", errUsage)
	}
	verb := args[0]
	if err := parseFlags(c.fs, args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	args = c.fs.Args()
	if c.db != "" {
		return fmt.Errorf("%w: with --db (or CALLVAULT_DB) the signing keys are in the database; 'callvault keys' manages a data directory's key file only", errUsage)
	}
	want := map[string]int{"rotate": 0, "list": 0, "remove": 1}
	n, ok := want[verb]
	if !ok {
		return fmt.Errorf("%w: unknown keys command %q: use rotate, list or remove", errUsage, verb)
	}
	if len(args) != n {
		return fmt.Errorf("%w: keys %s takes %d arguments", errUsage, verb, n)
	}
	switch verb {
	case "rotate":
		kid, err := auth.RotateSigningKey(c.data, time.Now())
		if err != nil {
			return plain(err)
		}
		fmt.Fprintf(std.err, "New tokens are signed with the new key; tokens of the old keys stay valid until they expire.\n"+
			"Retire an old key with 'callvault keys remove KID' once its tokens have expired.\n")
		fmt.Fprintln(std.out, kid)
		return nil
	case "remove":
		if err := auth.RemoveSigningKey(c.data, args[0]); err != nil {
			return plain(err)
		}
		fmt.Fprintf(std.out, "Removed key %s.\n", args[0])
		return nil
	}
	if _, err := os.Stat(filepath.Join(c.data, auth.SigningKeyFile)); err != nil {
		return fmt.Errorf("no signing keys in %s: %w", c.data, err)
	}
	signer, err := auth.LoadOrCreateSigner(c.data)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tCREATED\tUSE")
	for _, k := range signer.Keys() {
		created, use := "unknown", "verifies"
		if !k.Created.IsZero() {
			created = k.Created.Format(time.RFC3339)
		}
		if k.Signing {
			use = "signs and verifies"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, created, use)
	}
	return tw.Flush()
}
