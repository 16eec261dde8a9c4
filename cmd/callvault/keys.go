package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"
)

var keysCommand = command{
	name:    "keys",
	summary: "rotate the token signing keys",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &keysConfig{fs: fs}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose signing keys (signing-key.pem) are used")
		fs.StringVar(&c.db, "db", "", "the PostgreSQL database whose signing keys are used, as serve's --db `URL`")
		describe(fs, "callvault keys rotate|list|remove [flags]", `
Manages the development issuer's signing keys, kept in DATA/signing-key.pem,
or with --db in the database, where every server on it reads them (a new key
signs on each within 10 seconds, and its tokens are trusted at once):

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

func (c *keysConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: name what to do: rotate, list or remove", errUsage)
	}
	verb := args[0]
	if err := parseFlags(c.fs, args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	args = c.fs.Args()
	want := map[string]int{"rotate": 0, "list": 0, "remove": 1}
	n, ok := want[verb]
	if !ok {
		return fmt.Errorf("%w: unknown keys command %q: use rotate, list or remove", errUsage, verb)
	}
	if len(args) != n {
		return fmt.Errorf("%w: keys %s takes %d arguments", errUsage, verb, n)
	}
	home, closeHome, err := openHome(ctx, c.data, c.db, "")
	if err != nil {
		return err
	}
	defer closeHome()
	switch verb {
	case "rotate":
		kid, err := home.RotateKey(ctx, time.Now())
		if err != nil {
			return plain(err)
		}
		fmt.Fprintf(std.err, "New tokens are signed with the new key; tokens of the old keys stay valid until they expire.\n"+
			"Retire an old key with 'callvault keys remove KID' once its tokens have expired.\n")
		fmt.Fprintln(std.out, kid)
		return nil
	case "remove":
		if err := home.RemoveKey(ctx, args[0]); err != nil {
			return plain(err)
		}
		fmt.Fprintf(std.out, "Removed key %s.\n", args[0])
		return nil
	}
	keys, err := home.Keys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tCREATED\tUSE")
	for _, k := range keys {
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
