package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
)

var appCommand = command{
	name:    "app",
	summary: "register apps with the development issuer",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &appConfig{fs: fs}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose app registry (apps.json) is used (created if missing)")
		fs.StringVar(&c.db, "db", "", "the PostgreSQL database whose app registry is used, as serve's --db `URL` (a data directory's\napps.json is imported into it the first time)")
		fs.StringVar(&c.apps, "apps", "", "the app registry `file` (default: with --db the database's, else DATA/apps.json); serve's --apps names the same file")
		fs.StringVar(&c.tenant, "tenant", "", "the tenant `ID` the app belongs to (add: required; list: only this tenant's apps)")
		fs.StringVar(&c.name, "name", "", "the app's display `name`, unique in its tenant (add: required)")
		fs.StringVar(&c.roles, "roles", auth.RoleCallRecordsReadAll, "comma-separated application `roles` granted to the app: the roles claim of its tokens")
		fs.DurationVar(&c.expires, "expires", 0, "how long the client secret is valid (add); 0 means it never expires")
		describe(fs, "callvault app add|list|remove [flags]", `
Registers the apps that get tokens from serve's development issuer, as an app
registration with a client secret and granted application permissions does
on Microsoft Entra ID:

  callvault app add --tenant TENANT_ID --name NAME [--roles R1,R2] [--expires 2160h]
      registers an app and prints its client id and a new client secret, once,
      as AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET lines (the
      variables azidentity's EnvironmentCredential reads). Only a salted
      PBKDF2 hash of the secret is kept.
  callvault app list [--tenant TENANT_ID]
      lists the apps, their roles and their secrets' hints.
  callvault app remove CLIENT_ID
      removes an app; tokens already issued to it stay valid until they expire.

A running server sees the change on its next token request. With --db the
registry is the database's, and every server on it sees the change. Apps get tokens
from POST /{tenant}/oauth2/v2.0/token with grant_type=client_credentials,
client_id, client_secret and scope=https://graph.microsoft.com/.default.`)
		return c.run
	},
}

type appConfig struct {
	fs                                  *flag.FlagSet
	data, db, apps, tenant, name, roles string
	expires                             time.Duration
}

func (c *appConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: name what to do: add, list or remove", errUsage)
	}
	verb := args[0]
	// The verb's own flags follow it: parse them now.
	if err := parseFlags(c.fs, args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	args = c.fs.Args()
	if verb != "add" && verb != "list" && verb != "remove" {
		return fmt.Errorf("%w: unknown app command %q: use add, list or remove", errUsage, verb)
	}
	home, closeHome, err := openHome(ctx, c.data, c.db, c.apps)
	if err != nil {
		return err
	}
	defer closeHome()
	apps, err := home.Apps(ctx)
	if err != nil {
		return err
	}
	switch verb {
	case "add":
		if len(args) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
		}
		if c.tenant == "" || c.name == "" {
			return fmt.Errorf("%w: app add needs --tenant and --name", errUsage)
		}
		app, secret, err := apps.Add(auth.NewApp{Tenant: c.tenant, Name: c.name, Roles: splitList(c.roles), SecretTTL: c.expires})
		if err != nil {
			return plain(err)
		}
		fmt.Fprintf(std.err, "Registered app %q in tenant %s with the roles %s.\n", app.Name, app.Tenant, rolesText(app.Roles))
		if s := app.Secrets[0]; s.Expires != nil {
			fmt.Fprintf(std.err, "Its client secret expires %s.\n", s.Expires.Format(time.RFC3339))
		}
		fmt.Fprintf(std.err, "The client secret is shown only now: callvault keeps a hash of it.\n")
		fmt.Fprintf(std.out, "AZURE_TENANT_ID=%s\nAZURE_CLIENT_ID=%s\nAZURE_CLIENT_SECRET=%s\n", app.Tenant, app.ClientID, secret)
		return nil
	case "list":
		if len(args) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
		}
		list, err := apps.List()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tCLIENT ID\tNAME\tROLES\tSECRET\tEXPIRES")
		for _, app := range list {
			if c.tenant != "" && app.Tenant != c.tenant {
				continue
			}
			for i, s := range app.Secrets {
				expires := "never"
				if s.Expires != nil {
					expires = s.Expires.Format(time.RFC3339)
				}
				if i == 0 {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s…\t%s\n", app.Tenant, app.ClientID, app.Name, rolesText(app.Roles), s.Hint, expires)
				} else {
					fmt.Fprintf(tw, "\t\t\t\t%s…\t%s\n", s.Hint, expires)
				}
			}
		}
		return tw.Flush()
	case "remove":
		if len(args) != 1 {
			return fmt.Errorf("%w: app remove takes one client id", errUsage)
		}
		app, err := apps.Remove(args[0])
		if err != nil {
			return plain(err)
		}
		fmt.Fprintf(std.out, "Removed app %q (%s) of tenant %s.\n", app.Name, app.ClientID, app.Tenant)
		return nil
	}
	return fmt.Errorf("%w: unknown app command %q: use add, list or remove", errUsage, verb)
}

func rolesText(roles []string) string {
	if len(roles) == 0 {
		return "(none)"
	}
	return strings.Join(roles, ",")
}

// plain turns a *callvault.Error into an error that prints as its message,
// for the command line; other errors are returned as they are.
func plain(err error) error {
	if code := callvault.ErrorCode(err); code != callvault.EINTERNAL {
		return fmt.Errorf("%s", callvault.ErrorMessage(err))
	}
	return err
}
