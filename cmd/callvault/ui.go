package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/analytics"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/ui"
)

// uiConfig is serve's call-quality side: the analytics API under
// /analytics/v1/ and the web view under /ui/.
type uiConfig struct {
	off              bool
	link             string // the one-time sign-in link start minted, for --demo
	clientID         string // --ui-oidc-client-id
	clientSecretFile string
	fs               *flag.FlagSet // serve's, whose identity flags the OIDC sign-in follows
}

func (c *uiConfig) register(fs *flag.FlagSet) {
	c.fs = fs
	fs.BoolVar(&c.off, "no-ui", false, "serve neither the analytics API ("+analytics.Prefix+") nor the web view (/ui/)")
	fs.StringVar(&c.clientID, "ui-oidc-client-id", "", "with --issuer entra or oidc: sign people in to the web view with OpenID Connect (authorization code\n"+
		"and PKCE) at that issuer, as the app of this client `ID`, whose redirect URI is PUBLIC-URL/ui/oidc/callback;\n"+
		"a person's tenant (tid) must be one of --tenant. The one-time links go on working beside it")
	fs.StringVar(&c.clientSecretFile, "ui-oidc-client-secret-file", "", "the `file` holding --ui-oidc-client-id's client secret (none: a public client, PKCE only)")
}

// oidc returns the web view's OpenID Connect sign-in that the identity
// flags and --ui-oidc-client-id ask for, or nil.
func (c *uiConfig) oidc(publicURL string) (*ui.OIDC, error) {
	if c.clientID == "" {
		return nil, nil
	}
	flagValue := func(name string) string {
		if c.fs == nil || c.fs.Lookup(name) == nil {
			return ""
		}
		return c.fs.Lookup(name).Value.String()
	}
	var tenants []string
	for _, t := range strings.Split(flagValue("tenant"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			tenants = append(tenants, t)
		}
	}
	o := &ui.OIDC{ClientID: c.clientID, RedirectURL: strings.TrimSuffix(publicURL, "/") + "/ui/oidc/callback"}
	if c.clientSecretFile != "" {
		b, err := os.ReadFile(c.clientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--ui-oidc-client-secret-file: %w", err)
		}
		o.ClientSecret = strings.TrimSpace(string(b))
	}
	var err error
	switch flagValue("issuer") {
	case "entra":
		cloud, ok := auth.LookupCloud(cmpOr(flagValue("cloud"), "global"))
		if !ok || len(tenants) == 0 {
			return nil, fmt.Errorf("%w: --ui-oidc-client-id with --issuer entra needs a known --cloud and --tenant", errUsage)
		}
		o.Issuer = strings.TrimSuffix(cloud.LoginURL, "/") + "/" + tenants[0] + "/v2.0"
		o.Issuers, err = auth.EntraIssuers(cloud, tenants, auth.RemoteOptions{})
	case "oidc":
		o.Issuer = flagValue("issuer-url")
		o.Issuers, err = auth.OIDCIssuer(o.Issuer, tenants, auth.RemoteOptions{})
	default:
		return nil, fmt.Errorf("%w: --ui-oidc-client-id needs --issuer entra or oidc", errUsage)
	}
	return o, err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// start mounts the analytics API and the web view on srv, when the store
// keeps classified streams; with demo, it mints a sign-in link for the
// demo tenant that printLink prints.
func (c *uiConfig) start(srv *graph.Server, store callvault.Store, signer *auth.Signer, publicURL string, demoTenant string, logger *slog.Logger) error {
	qs, ok := store.(callvault.QualityStore)
	if c.off || !ok {
		return nil
	}
	if srv.Extra == nil {
		srv.Extra = http.NewServeMux()
	}
	(&analytics.Handler{Store: qs, Auth: srv.Auth, Logger: logger.With("component", "analytics"), Retention: srv.Retention}).Mount(srv.Extra)
	oidc, err := c.oidc(publicURL)
	if err != nil {
		return err
	}
	web := &ui.Server{Store: store, Quality: qs, Signer: signer, API: srv.Handler(), Logger: logger.With("component", "ui"), OIDC: oidc, Retention: srv.Retention,
		RollupWait: uiRollupWait}
	if err := web.Mount(srv.Extra); err != nil {
		return err
	}
	if r, ok := store.(callvault.QualityRollupRefresher); ok {
		var extra []string
		if demoTenant != "" {
			extra = []string{demoTenant}
		}
		go refreshRollupLoop(r, web, extra, logger.With("component", "quality-rollup"))
	}
	if demoTenant != "" {
		link, err := ui.Link(signer, publicURL, demoTenant)
		if err != nil {
			return err
		}
		c.link = link
	}
	return nil
}

// uiRollupWait is how long a page of the web view waits for the rollup's
// dirty days before it answers from the rollup as it stands and says so:
// with no dirty day the wait is one read of a small table, and a page
// then answers within 300 ms even over a new period of a million sessions.
const uiRollupWait = 150 * time.Millisecond

// rollupEvery is how often serve computes the dirty days of the daily
// rollup in the background, so that pages seldom have to: a day an import
// changed takes some 4 s to compute again for a weekday of 150,000 streams,
// and every minute left the pages behind for most of a minute under a
// mirror's steady imports. Looking for dirty days costs one read of a small
// table.
const rollupEvery = 10 * time.Second

// refreshRollupLoop computes the rollup's dirty days at once and then
// every rollupEvery, until the store is closed; when days were computed
// (which makes the store's kept answers stale), it warms the overview of
// the tenants people are looking at, and of extra (the demo's) the first
// time.
func refreshRollupLoop(r callvault.QualityRollupRefresher, web *ui.Server, extra []string, logger *slog.Logger) {
	tick := time.NewTicker(rollupEvery)
	defer tick.Stop()
	for first := true; ; first = false {
		if !first {
			<-tick.C
		}
		start := time.Now()
		days, err := r.RefreshQualityRollup(context.Background())
		switch {
		case err != nil && strings.Contains(err.Error(), "closed"):
			return
		case err != nil:
			logger.Warn("the daily rollup of call quality could not be computed", "days", days, "err", err)
			continue
		case days > 0:
			logger.Info("the daily rollup of call quality computed", "days", days, "duration", time.Since(start).Round(time.Millisecond))
		}
		if days == 0 && !first {
			continue
		}
		start = time.Now()
		var warm []string
		if first {
			warm = extra
		}
		n, err := web.Warm(context.Background(), warm...)
		switch {
		case err != nil && strings.Contains(err.Error(), "closed"):
			return
		case err != nil:
			logger.Warn("the overview could not be warmed", "tenants", n, "err", err)
		case n > 0:
			logger.Info("the overview warmed", "tenants", n, "duration", time.Since(start).Round(time.Millisecond))
		}
	}
}

// printLink prints the demo's sign-in link, if start minted one.
func (c *uiConfig) printLink(std stdio) {
	if c.link != "" {
		fmt.Fprintf(std.out, "The web view of call quality (a one-time sign-in link, for %s; 'callvault ui' prints another):\n\n%s\n\n", ui.LinkTTL, c.link)
	}
}

var uiCommand = command{
	name:    "ui",
	summary: "print a one-time sign-in link to the web view of serve",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &uiLinkConfig{}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose signing key signs the link, as serve's")
		fs.StringVar(&c.db, "db", "", "the PostgreSQL database whose signing key signs the link, as serve's --db `URL`")
		fs.StringVar(&c.tenant, "tenant", "", "the tenant `ID` whose call quality the link shows (required)")
		fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "the `URL` serve is reached at (its --public-url)")
		describe(fs, "callvault ui --tenant TENANT_ID [--url URL]", `
Prints a link that signs a browser in to the web view of 'callvault serve'
(/ui/) for one tenant, as Jupyter's token links do: anyone with the link can
use it, once, within `+ui.LinkTTL.String()+`; the session it opens lasts `+ui.SessionTTL.String()+`.
Run it where the server's data directory (or --db) is: the link is signed
with the server's key. serve --demo prints one for the demo tenant.`)
		return c.run
	},
}

type uiLinkConfig struct {
	data, db, tenant, url string
}

func (c *uiLinkConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	if c.tenant == "" {
		return fmt.Errorf("%w: --tenant is required", errUsage)
	}
	signer, err := openSigner(ctx, c.data, c.db)
	if err != nil {
		return err
	}
	link, err := ui.Link(signer, c.url, c.tenant)
	if err != nil {
		return err
	}
	fmt.Fprintf(std.err, "valid once, until %s:\n", time.Now().Add(ui.LinkTTL).UTC().Format(time.RFC3339))
	fmt.Fprintln(std.out, link)
	return nil
}
