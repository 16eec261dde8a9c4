package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/callvault/callvault/auth"
)

var tokenCommand = command{
	name:    "token",
	summary: "print an access token",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &tokenConfig{}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose signing key signs the token (created if missing)")
		fs.StringVar(&c.db, "db", "", "the PostgreSQL database whose signing key signs the token, as serve's --db `URL`")
		fs.StringVar(&c.tenant, "tenant", "", "the tenant `ID` (tid) of the token (required)")
		fs.StringVar(&c.roles, "roles", "CallRecords.Read.All", "comma-separated app `roles` of an app-only token")
		fs.BoolVar(&c.delegated, "delegated", false, "make a delegated (user) token with the scope CallRecords.Read.All instead;\nthe API refuses it with 403, as Graph does")
		fs.DurationVar(&c.ttl, "ttl", time.Hour, "how long the token is valid")
		fs.StringVar(&c.appID, "app-id", auth.DefaultAppID, "the client application `ID` (appid) of the token")
		describe(fs, "callvault token --tenant TENANT_ID [flags]", `
Prints an access token that 'callvault serve' with the same --data accepts, on
the last line of standard output. It is shaped like a Microsoft Graph app-only
(client credentials) token: RS256, aud https://graph.microsoft.com, tid, appid
and roles; by default it holds the role CallRecords.Read.All.

  TOKEN=$(callvault token --tenant contoso | tail -n 1)
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/v1.0/communications/callRecords/{id}/sessions`)
		return c.run
	},
}

type tokenConfig struct {
	data, tenant, roles, appID string
	db                         string
	delegated                  bool
	ttl                        time.Duration
}

func (c *tokenConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	if c.tenant == "" {
		return fmt.Errorf("%w: --tenant is required", errUsage)
	}
	if c.ttl <= 0 {
		return fmt.Errorf("%w: --ttl must be positive", errUsage)
	}
	signer, err := openSigner(ctx, c.data, c.db)
	if err != nil {
		return err
	}
	opts := auth.TokenOptions{Tenant: c.tenant, AppID: c.appID, TTL: c.ttl, Delegated: c.delegated}
	var roles []string
	for _, r := range strings.Split(c.roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			roles = append(roles, r)
		}
	}
	if c.delegated {
		opts.Scopes = []string{"CallRecords.Read.All"}
	} else {
		opts.Roles = roles
		if opts.Roles == nil {
			opts.Roles = []string{} // an app token with no role, for testing 403s
		}
	}
	tok, err := signer.Mint(opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(std.out, tok)
	return nil
}
