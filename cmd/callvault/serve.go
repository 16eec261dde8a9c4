package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/identity"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/internal/heapfloor"
	"github.com/callvault/callvault/internal/logbuf"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/synth"
)

var serveCommand = command{
	name:    "serve",
	summary: "run the API server",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &serveConfig{}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory: database, signing key and cursor key (created if missing)")
		fs.StringVar(&c.db, "db", "", dbFlagUsage)
		fs.Func("db-read", "with --db: a streaming replica of that database to send reads of call records to, as a `URL`;\n"+
			"repeat it for more (in turn). Writes, subscriptions and the outbox stay on --db; docs/scaling.md", func(s string) error {
			if !isPostgresDSN(s) {
				return fmt.Errorf("%q is not a postgres:// URL", postgres.Redact(s))
			}
			c.dbRead = append(c.dbRead, s)
			return nil
		})
		fs.DurationVar(&c.dbReadMaxLag, "db-read-max-lag", postgres.DefaultMaxLag, "how far a --db-read replica may lag behind --db and still take reads")
		fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "the `host:port` to listen on; port 0 picks a free port")
		fs.StringVar(&c.publicURL, "public-url", "", "the base `URL` clients reach the server at, used in @odata.context and @odata.nextLink,\nsuch as https://graph.microsoft.us or a proxy's URL (default http:// and the listening address)")
		fs.BoolVar(&c.demo, "demo", false, "seed demo data for tenant "+synth.DemoTenant+" unless it is there\n(four weeks of calls up to today, and their PSTN rows), and print a token and curl commands to try")
		fs.IntVar(&c.demoRecords, "demo-records", 500, "with --demo: how many generated calls to seed, besides the demo's twelve named records")
		fs.Int64Var(&c.demoSeed, "demo-seed", 1, "with --demo: selects the generated data (the same seed on the same day gives the same data)")
		fs.StringVar(&c.logLevel, "log-level", "info", "the least `level` logged: debug, info, warn or error")
		fs.StringVar(&c.logFormat, "log-format", "text", "the log `format` on standard error: text or json")
		fs.DurationVar(&c.retention, "retention", 0, "behave as Graph does after this long: older call records are 404 and absent from lists\n(Graph keeps 30 days: 720h); 0 keeps everything")
		fs.BoolVar(&c.ingest, "ingest", false, "serve POST "+graph.IngestPath+", where apps with the role "+graph.RoleCallRecordsIngest+"\npush call records (JSON or JSON Lines, gzip accepted) to their tenant")
		fs.Int64Var(&c.ingestLimit, "ingest-limit", graph.DefaultIngestLimit, "the largest request `bytes` --ingest takes, after gzip decompression (a larger body is a 413)")
		fs.IntVar(&c.pageCache, "page-cache", graph.DefaultPageCacheLimit, "the `bytes` of large gzip pages of sessions kept in memory, each with its record's stamp,\nfor clients that ask for them again; 0 keeps none")
		c.identity.register(fs)
		c.notify.register(fs)
		c.throttle.register(fs)
		c.limits.register(fs)
		c.ui.register(fs)
		c.ops.register(fs)
		describe(fs, "callvault serve [flags]", `
Serves the Microsoft Graph callRecords API under /v1.0 and /beta, as Graph does:
  GET /{v1.0|beta}/communications/callRecords/{id}/sessions
with $select, $expand=segments, paging by @odata.nextLink (at most 60 sessions a
page) and the Prefer headers odata.maxpagesize, include-unknown-enum-members and
omit-values=nulls. Requests need an app-only bearer token with the role
CallRecords.Read.All: 'callvault token' prints one. Stops cleanly on SIGINT or
SIGTERM.

It also serves Graph's change notifications: POST /{v1.0|beta}/subscriptions
to /communications/callRecords, and a notification to the webhook for every
record stored (import, --ingest, another replica), retried for --notify-max-age.
Webhooks must be https unless --allow-http-webhooks; docs/notifications.md.

With --demo, a database without the demo meeting is seeded from the generator
of 'callvault generate': --demo-records calls over the 28 days before today
(UTC), the named demo records (a meeting of 150 sessions among them) and the
getPstnCalls and getDirectRoutingCalls rows of their phone legs. The data keeps
the dates of the day it was seeded: later starts find it and import nothing.

Unless the environment sets GOGC, the garbage collector's goal is at least
16 MiB, which spares a small heap dozens of collections a second under load
(docs/operations.md).`)
		return c.run
	},
}

// serveHeapFloor is the least goal of serve's garbage collector, unless the
// environment sets GOGC.
const serveHeapFloor = 16 << 20

type serveConfig struct {
	data, addr, publicURL string
	db                    string        // a PostgreSQL URL; "" for the data directory's SQLite
	dbRead                []string      // PostgreSQL replicas of db that take reads
	dbReadMaxLag          time.Duration // the lag that takes one out of rotation
	demo                  bool
	demoRecords           int
	demoSeed              int64
	logLevel, logFormat   string
	retention             time.Duration
	ingest                bool           // serve the ingest API
	ingestLimit           int64          // its largest body
	pageCache             int            // the kept compressed pages' bytes (graph.Server.PageCacheLimit)
	identity              identityConfig // identity.go: issuer, tenants, cloud, TLS
	notify                notifyConfig   // notify.go: subscriptions, webhooks, delivery
	throttle              throttleConfig // throttle.go: Graph's throttling and faults emulated
	limits                limitsConfig   // limits.go: timeouts and caps
	ui                    uiConfig       // ui.go: the analytics API and the web view
	ops                   opsConfig      // ops.go: metrics, shutdown
}

func (c *serveConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	if c.retention < 0 {
		return fmt.Errorf("%w: --retention must not be negative", errUsage)
	}
	if c.demoRecords < 0 {
		return fmt.Errorf("%w: --demo-records must not be negative", errUsage)
	}
	logger, flushLog, err := newLogger(std, c.logLevel, c.logFormat)
	if err != nil {
		return err
	}
	defer flushLog()
	// A small live heap collected at every doubling was about a tenth of a
	// small request's CPU under load (internal/heapfloor; docs/operations.md).
	defer heapfloor.Start(serveHeapFloor)()
	if c.publicURL != "" {
		if u, err := url.Parse(c.publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: --public-url %q is not an absolute http or https URL", errUsage, c.publicURL)
		}
	}
	if err := c.limits.check(); err != nil {
		return err
	}
	if err := c.identity.check(); err != nil {
		return err
	}
	if err := c.notify.check(); err != nil {
		return err
	}
	if err := c.ops.check(); err != nil {
		return err
	}
	if len(c.dbRead) > 0 && c.db == "" {
		return fmt.Errorf("%w: --db-read needs --db: the replicas are of a PostgreSQL primary", errUsage)
	}
	opened := time.Now()
	store, err := openStore(ctx, c.data, c.db)
	if err != nil {
		return err
	}
	defer store.Close()
	if pg, ok := store.(*postgres.DB); ok && len(c.dbRead) > 0 {
		if err := pg.AddReplicas(ctx, c.dbRead, postgres.ReplicaOptions{MaxLag: c.dbReadMaxLag, Logger: logger}); err != nil {
			return err
		}
	}
	defer keepPartitions(ctx, store, c.retention, logger)()
	if names := appliedMigrations(store); len(names) > 0 {
		logger.Info("database migrated", "applied", strings.Join(names, ","), "took", time.Since(opened).Round(time.Millisecond))
	}
	signer, err := loadSigner(ctx, store, c.data)
	if err != nil {
		return err
	}
	cursorKey, err := loadCursorKey(ctx, store, c.data)
	if err != nil {
		return err
	}
	home := identity.Open(store, c.data, c.identity.apps)
	authn, issuerRoutes, err := c.identity.authenticator(ctx, home, c.publicURL, signer, logger)
	if err != nil {
		return err
	}
	var demo demoWindow
	if c.demo {
		if demo, err = seedDemo(ctx, store, logger, time.Now(), c.demoSeed, c.demoRecords); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	ln = c.limits.listener(ln)
	ln, scheme, err := c.identity.listen(ctx, ln, home, c.publicURL, std)
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
		// A negative limit keeps none; --page-cache says so with 0.
		PageCacheLimit: cmp.Or(c.pageCache, -1),
	}
	if err := c.throttle.apply(srv, store, logger); err != nil {
		return err
	}
	if err := followDrift(ctx, srv, store, logger); err != nil {
		return err
	}
	wake, stopNotify, err := c.notify.start(ctx, srv, store, logger)
	if err != nil {
		return err
	}
	defer stopNotify()
	if c.ingest {
		if srv.Extra == nil {
			srv.Extra = http.NewServeMux()
		}
		srv.Extra.Handle(graph.IngestPath, wakeAfter(srv.IngestHandler(c.ingestLimit), wake))
	}
	if err := c.ui.start(srv, store, signer, publicURL, map[bool]string{true: synth.DemoTenant}[c.demo], logger); err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	c.limits.apply(srv, hs)
	c.identity.apply(srv, hs, logger)
	fmt.Fprintf(std.out, "callvault listening on %s://%s (public URL %s, data %s)\n", scheme, ln.Addr(), publicURL, storeName(c.data, c.db))
	if err := c.ops.start(srv, c.notify.dispatcher, c.throttle.limiter, logger, std); err != nil {
		return err
	}
	if c.demo {
		if err := printDemo(std, signer, publicURL, demo); err != nil {
			return err
		}
		c.ui.printLink(std)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return c.ops.shutdown(hs, errc, logger)
}

// logDelay is how long a log line may wait to be written with others
// (logbuf): a line a request was a system call a request. Warnings and
// errors are written at once.
const logDelay = 100 * time.Millisecond

// newLogger returns the logger of a long-running command, writing to
// standard error, and the function that writes the lines it still holds,
// to be called before the command returns.
func newLogger(std stdio, level, format string) (_ *slog.Logger, flush func() error, _ error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("%w: --log-level %q: use debug, info, warn or error", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: l}
	w := logbuf.New(std.err, logDelay)
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, nil, fmt.Errorf("%w: --log-format %q: use text or json", errUsage, format)
	}
	return slog.New(logbuf.Handler(h, w, slog.LevelWarn)), w.Close, nil
}

// demoWindow is the days the demo data set spans.
type demoWindow struct{ from, to time.Time }

// seedDemo seeds the demo tenant from the generator, anchored at the day
// of now, unless the demo meeting is already there: synth.WriteDemo writes
// it last, after the report rows and the other records, so its presence
// says an earlier start seeded everything. It returns the days the data
// set spans, today's or those of the earlier seeding. Seeding again over a
// partial seeding replaces records and rows by id: nothing is duplicated.
func seedDemo(ctx context.Context, store callvault.Store, logger *slog.Logger, now time.Time, seed int64, records int) (demoWindow, error) {
	if m, err := store.GetRecord(ctx, synth.DemoTenant, synth.DemoMeetingID); err == nil {
		from, to := synth.DemoWindowOf(m.StartDateTime)
		logger.Info("demo data already seeded: importing nothing", "tenant", synth.DemoTenant, "from", from.Format(time.DateOnly), "to", to.Format(time.DateOnly))
		return demoWindow{from, to}, nil
	} else if callvault.ErrorCode(err) != callvault.ENOTFOUND {
		return demoWindow{}, err
	}
	cfg := synth.DemoConfig{Now: now.UTC().Truncate(24 * time.Hour), Seed: seed, Records: records}
	from, to := synth.DemoWindow(cfg.Now)
	total := records + synth.DemoNamedRecords
	logger.Info("seeding demo data", "tenant", synth.DemoTenant, "records", total, "seed", seed, "from", from.Format(time.DateOnly), "to", to.Format(time.DateOnly))
	start := time.Now()
	var stats ingest.Stats
	last := start
	im := &ingest.Importer{Store: store, Tenant: synth.DemoTenant,
		OnReject: func(r ingest.Rejection) { logger.Error("demo record rejected", "err", r) },
		OnRecord: func(s ingest.Stats) {
			if t := time.Now(); t.Sub(last) >= time.Second {
				last = t
				logger.Info("seeding demo data", "records", s.Records, "of", total, "sessions", s.Sessions, "rows", s.Rows)
			}
		},
	}
	// The rows first, then the records, the meeting last.
	for _, part := range []struct {
		name  string
		write func(io.Writer, synth.DemoConfig) (synth.Stats, error)
	}{{"demo report rows", synth.WriteDemoRows}, {"demo records", synth.WriteDemo}} {
		pr, pw := io.Pipe()
		go func() {
			_, err := part.write(pw, cfg)
			pw.CloseWithError(err)
		}()
		err := im.Import(ctx, part.name, pr, &stats)
		pr.CloseWithError(errors.New("import ended")) // stops the generator if the import did not read it all
		if err != nil {
			return demoWindow{}, fmt.Errorf("seed demo data: %w", err)
		}
	}
	if stats.Rejected > 0 {
		return demoWindow{}, fmt.Errorf("the generated demo data has %d bad records: this is a bug", stats.Rejected)
	}
	logger.Info("demo data seeded", "tenant", synth.DemoTenant, "records", stats.Records, "sessions", stats.Sessions,
		"segments", stats.Segments, "rows", stats.Rows, "took", time.Since(start).Round(time.Millisecond))
	return demoWindow{from, to}, nil
}

func printDemo(std stdio, signer *auth.Signer, publicURL string, w demoWindow) error {
	tok, err := signer.Mint(auth.TokenOptions{Tenant: synth.DemoTenant, TTL: 24 * time.Hour})
	if err != nil {
		return err
	}
	from, to := w.from.Format(time.DateOnly), w.to.Format(time.DateOnly)
	api := publicURL + "/v1.0/communications/callRecords"
	fmt.Fprintf(std.out, `
Demo data is loaded for tenant %s: calls from %s up to %s (UTC).
An app-only token with the role CallRecords.Read.All, good for 24 hours:

export TOKEN=%s

List the sessions of the demo meeting (150 sessions, pages of 60):

curl -s -H "Authorization: Bearer $TOKEN" '%s/%s/sessions?$expand=segments'

List the call records of those days, with their count (pages of 60):

curl -s -H "Authorization: Bearer $TOKEN" '%s?$count=true&$filter=startDateTime%%20ge%%20%sT00:00:00Z%%20and%%20startDateTime%%20lt%%20%sT00:00:00Z'

The PSTN calls of those days (getPstnCalls):

curl -s -H "Authorization: Bearer $TOKEN" '%s/getPstnCalls(fromDateTime=%s,toDateTime=%s)'

`, synth.DemoTenant, from, to, tok, api, synth.DemoMeetingID, api, from, to, api, from, to)
	return nil
}
