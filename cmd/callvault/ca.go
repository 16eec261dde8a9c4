package main

import (
	"context"
	"flag"
	"fmt"
	"time"
)

var caCommand = command{
	name:    "ca",
	summary: "print the path of the local CA certificate",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &caConfig{}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose local CA (tls/ca.pem) is printed (made if missing);\nwith --db, where the database's CA certificate is written (DATA/tls/ca.pem)")
		fs.StringVar(&c.db, "db", "", "the PostgreSQL database whose local CA is used, as serve's --db `URL` (made if missing;\na data directory's CA is imported into it the first time)")
		describe(fs, "callvault ca [flags]", `
Prints the path of the certificate of the local CA that 'serve --tls auto'
issues its certificate from, making the CA first if there is none yet. With
--db the CA is the database's, shared by every server on it, and its
certificate is written to DATA/tls/ca.pem to be printed. Clients trust the
server by trusting it:

  export SSL_CERT_FILE=$(callvault ca)        # Go on Linux, OpenSSL, curl, Python requests (REQUESTS_CA_BUNDLE)
  export NODE_EXTRA_CA_CERTS=$(callvault ca)  # Node.js
  curl --cacert "$(callvault ca)" https://localhost:8443/...

SSL_CERT_FILE replaces the system's CAs for the program; on macOS and Windows,
Go uses the system's store instead: add the certificate there.`)
		return c.run
	},
}

type caConfig struct{ data, db string }

func (c *caConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	home, closeHome, err := openHome(ctx, c.data, c.db, "")
	if err != nil {
		return err
	}
	defer closeHome()
	path, err := home.CAFile(ctx, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(std.out, path)
	return nil
}
