package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/synth"
)

var serveCommand = command{
	name:    "serve",
	summary: "run the API server",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &serveConfig{}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory: database, signing key and cursor key (created if missing)")
		fs.StringVar(&c.db, "db", "", dbFlagUsage)
		fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "the `host:port` to listen on; port 0 picks a free port")
		fs.StringVar(&c.publicURL, "public-url", "", "the base `URL` clients reach the server at, used in @odata.context and @odata.nextLink,\nsuch as https://graph.microsoft.us or a proxy's URL (default http:// and the listening address)")
		fs.BoolVar(&c.demo, "demo", false, "load the built-in demo call records (tenant "+synth.DemoTenant+") when they are missing,\nand print a token and a curl command to try")
		fs.StringVar(&c.logLevel, "log-level", "info", "the least `level` logged: debug, info, warn or error")
		fs.StringVar(&c.logFormat, "log-format", "text", "the log `format` on standard error: text or json")
		fs.DurationVar(&c.retention, "retention", 0, "behave as Graph does after this long: older call records are 404 and absent from lists\n(Graph keeps 30 days: 720h); 0 keeps everything")
		fs.BoolVar(&c.ingest, "ingest", false, "serve POST "+graph.IngestPath+", where apps with the role "+graph.RoleCallRecordsIngest+"\npush call records (JSON or JSON Lines, gzip accepted) to their tenant")
		fs.Int64Var(&c.ingestLimit, "ingest-limit", graph.DefaultIngestLimit, "the largest request `bytes` --ingest takes, after gzip decompression (a larger body is a 413)")
		c.identity.register(fs)
		describe(fs, "callvault serve [flags]", `
Serves the Microsoft Graph callRecords API under /v1.0 and /beta, as Graph does:
  GET /{v1.0|beta}/communications/callRecords/{id}/sessions
with $select, $expand=segments, paging by @odata.nextLink (at most 60 sessions a
page) and the Prefer headers odata.maxpagesize, include-unknown-enum-members and
omit-values=nulls. Requests need an app-only bearer token with the role
CallRecords.Read.All: 'callvault token' prints one. Stops cleanly on SIGINT or
SIGTERM.`)
		return c.run
	},
}

type serveConfig struct {
	data, addr, publicURL string
	db                    string // a PostgreSQL URL; "" for the data directory's SQLite
	demo                  bool
	logLevel, logFormat   string
	retention             time.Duration
	ingest                bool           // serve the ingest API
	ingestLimit           int64          // its largest body
	identity              identityConfig // identity.go: issuer, tenants, cloud, TLS
}

func (c *serveConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	if c.retention < 0 {
		return fmt.Errorf("%w: --retention must not be negative", errUsage)
	}
	logger, err := newLogger(std, c.logLevel, c.logFormat)
	if err != nil {
		return err
	}
	if c.publicURL != "" {
		if u, err := url.Parse(c.publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: --public-url %q is not an absolute http or https URL", errUsage, c.publicURL)
		}
	}
	if err := c.identity.check(); err != nil {
		return err
	}
	store, err := openStore(ctx, c.data, c.db)
	if err != nil {
		return err
	}
	defer store.Close()
	signer, err := loadSigner(ctx, store, c.data)
	if err != nil {
		return err
	}
	cursorKey, err := loadCursorKey(ctx, store, c.data)
	if err != nil {
		return err
	}
	authn, issuerRoutes, err := c.identity.authenticator(ctx, c.data, c.publicURL, signer, logger)
	if err != nil {
		return err
	}
	if c.demo {
		if err := loadDemo(ctx, store, logger); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	ln, scheme, err := c.identity.listen(ln, c.data, c.publicURL, std)
	if err != nil {
		return err
	}
	publicURL := c.publicURL
	if publicURL == "" {
		publicURL = c.identity.defaultPublicURL(scheme, ln.Addr())
	}
	srv := &graph.Server{
		Store:     store,
		Auth:      authn,
		Extra:     issuerRoutes,
		Cursors:   odata.Cursors{Key: cursorKey},
		PublicURL: publicURL,
		Logger:    logger,
		Retention: c.retention,
	}
	if c.ingest {
		if srv.Extra == nil {
			srv.Extra = http.NewServeMux()
		}
		srv.Extra.Handle(graph.IngestPath, srv.IngestHandler(c.ingestLimit))
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	fmt.Fprintf(std.out, "callvault listening on %s://%s (public URL %s, data %s)\n", scheme, ln.Addr(), publicURL, storeName(c.data, c.db))
	if c.demo {
		if err := printDemo(std, signer, publicURL); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func newLogger(std stdio, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: use debug, info, warn or error", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(std.err, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(std.err, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: use text or json", errUsage, format)
}

// loadDemo imports the demo data set unless its records are already there.
func loadDemo(ctx context.Context, store callvault.Store, logger *slog.Logger) error {
	if _, err := store.GetRecord(ctx, synth.DemoTenant, synth.DemoMeetingID); err == nil {
		return nil
	} else if callvault.ErrorCode(err) != callvault.ENOTFOUND {
		return err
	}
	var stats ingest.Stats
	im := &ingest.Importer{Store: store, Tenant: synth.DemoTenant, OnReject: func(r ingest.Rejection) {
		logger.Error("demo record rejected", "err", r)
	}}
	if err := im.Import(ctx, "demo", strings.NewReader(string(synth.Demo())), &stats); err != nil {
		return err
	}
	if stats.Rejected > 0 {
		return fmt.Errorf("the built-in demo data has %d bad records: this is a bug", stats.Rejected)
	}
	logger.Info("demo data loaded", "tenant", synth.DemoTenant, "records", stats.Records, "sessions", stats.Sessions, "segments", stats.Segments)
	return nil
}

func printDemo(std stdio, signer *auth.Signer, publicURL string) error {
	tok, err := signer.Mint(auth.TokenOptions{Tenant: synth.DemoTenant, TTL: 24 * time.Hour})
	if err != nil {
		return err
	}
	fmt.Fprintf(std.out, `
Demo data is loaded for tenant %s.
An app-only token with the role CallRecords.Read.All, good for 24 hours:

export TOKEN=%s

List the sessions of the demo meeting (150 sessions, pages of 60):

curl -s -H "Authorization: Bearer $TOKEN" '%s/v1.0/communications/callRecords/%s/sessions?$expand=segments'

`, synth.DemoTenant, tok, publicURL, synth.DemoMeetingID)
	return nil
}
