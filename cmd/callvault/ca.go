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
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose local CA (tls/ca.pem) is printed (made if missing)")
		describe(fs, "callvault ca [flags]", `
Prints the path of the certificate of the local CA that 'serve --tls auto'
issues its certificate from, making the CA first if there is none yet. Clients
trust the server by trusting it:

  export SSL_CERT_FILE=$(callvault ca)        # Go on Linux, OpenSSL, curl, Python requests (REQUESTS_CA_BUNDLE)
  export NODE_EXTRA_CA_CERTS=$(callvault ca)  # Node.js
  curl --cacert "$(callvault ca)" https://localhost:8443/...

SSL_CERT_FILE replaces the system's CAs for the program; on macOS and Windows,
Go uses the system's store instead: add the certificate there.`)
		return c.run
	},
}

type caConfig struct{ data string }

func (c *caConfig) run(_ context.Context, args []string, std stdio) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	_, _, path, err := localCA(c.data, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(std.out, path)
	return nil
}
