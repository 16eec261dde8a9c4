package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/metrics"
	"github.com/callvault/callvault/mirror"
	"github.com/callvault/callvault/outbound"
	"github.com/callvault/callvault/throttle"
	"github.com/prometheus/client_golang/prometheus"
)

var mirrorCommand = command{
	name:    "mirror",
	summary: "copy a tenant's call records from Microsoft Graph, and keep them",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &mirrorConfig{}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory of the store the records go to (created if missing)")
		fs.StringVar(&c.db, "db", "", dbFlagUsage)
		fs.StringVar(&c.cloud, "cloud", "global", "the national cloud whose Graph and Entra ID to use: global, usgov, dod or china")
		fs.StringVar(&c.source, "source", "", "the Graph `URL` to copy from, version included (default: the cloud's Graph, /beta);\nany server of Graph's callRecords API, such as another callvault")
		fs.StringVar(&c.authority, "authority", "", "the `URL` of the token issuer (default: the cloud's Entra ID); the token endpoint is\nURL/{tenant}/oauth2/v2.0/token")
		fs.StringVar(&c.tenant, "tenant", os.Getenv("AZURE_TENANT_ID"), "the source tenant `ID` (default $AZURE_TENANT_ID); the records are stored under it")
		fs.StringVar(&c.clientID, "client-id", os.Getenv("AZURE_CLIENT_ID"), "the app's client `ID` (default $AZURE_CLIENT_ID); it needs the application permissions\nCallRecords.Read.All and, for --reports, CallRecord-PstnCalls.Read.All")
		fs.StringVar(&c.secret, "client-secret", "", "the app's client secret (default $AZURE_CLIENT_SECRET; prefer the variable: flags show in ps)")
		fs.StringVar(&c.cert, "client-certificate", os.Getenv("AZURE_CLIENT_CERTIFICATE_PATH"), "a PEM `file` with the app's certificate and private key, instead of a secret\n(default $AZURE_CLIENT_CERTIFICATE_PATH)")
		fs.StringVar(&c.scope, "scope", "", "the `scope` tokens are asked for (default: the cloud's Graph, https://graph.microsoft.com/.default)")
		fs.StringVar(&c.sourceCA, "source-ca", "", "a PEM `file` of CA certificates to trust for the source and the authority, besides the system's")
		fs.DurationVar(&c.since, "since", 720*time.Hour, "backfill the records that started this long ago and later (Graph keeps 30 days: 720h)")
		fs.BoolVar(&c.once, "once", false, "backfill, fetch everything queued, and exit (non-zero when records failed);\nwithout it, keep following the source until SIGINT or SIGTERM")
		fs.DurationVar(&c.lookback, "lookback", 3*time.Hour, "following: sweep the records that started this long ago and later, every --interval\n(a record appears up to about 150 minutes after its call ends)")
		fs.DurationVar(&c.interval, "interval", 5*time.Minute, "following: how often to sweep --lookback")
		fs.DurationVar(&c.deep, "deep", 48*time.Hour, "following: the window of the deeper sweep, which catches late updates")
		fs.DurationVar(&c.deepInterval, "deep-interval", 6*time.Hour, "following: how often to sweep --deep")
		fs.StringVar(&c.notifyURL, "notify-url", "", "following: subscribe on the source to its change notifications, sent to this `URL`:\nthe https address of 'callvault serve --mirror-inbox' on the same store, path "+graph.MirrorInboxPath+";\nnotified records are fetched within seconds, the sweeps still catch what notifications miss")
		fs.BoolVar(&c.reports, "reports", true, "also copy the rows of getPstnCalls and getDirectRoutingCalls, a day at a time")
		fs.IntVar(&c.workers, "workers", 4, "records fetched at once")
		fs.IntVar(&c.batch, "batch", 16, "records claimed, stored and settled together: each batch costs the store a few\ntransactions however many records it holds; each record is still stored whole or not at all")
		fs.StringVar(&c.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://`host:port`/metrics (records by outcome, requests,\n429s, time waited, lag, backlog); off when empty")
		fs.DurationVar(&c.lease, "lease", 2*time.Minute, "how long a record being fetched is this mirror's; after a crash, the record is taken over\nwhen its lease runs out")
		fs.BoolVar(&c.retryFailed, "retry-failed", false, "first queue again the records that failed too often before (parked)")
		fs.StringVar(&c.logLevel, "log-level", "info", "the least `level` logged: debug, info, warn or error")
		fs.DurationVar(&c.every, "progress", 2*time.Second, "how often to show progress; 0 turns it off")
		describe(fs, "callvault mirror [flags]", `
Copies a tenant's call records from Microsoft Graph into callvault's store,
so that they are kept past Graph's 30 days and served the same way. It signs
in as azidentity does, with AZURE_TENANT_ID, AZURE_CLIENT_ID and
AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH (the file 'callvault app
add' writes works as it is).

Graph has no change feed. The mirror sweeps the records by startDateTime,
from --since ago to now a day at a time, then, following, the last --lookback
every --interval and the last --deep every --deep-interval. Each record that
is new or changed (version, lastModifiedDateTime) is queued in the store,
then fetched whole (GET …/callRecords/{id}?$expand=sessions($expand=segments),
participants_v2, every page) and stored as 'callvault import' stores it: the
same validation and version rules, and change notifications to callvault's
own subscribers. A client-side limiter keeps under Graph's documented limits;
429s wait the Retry-After they give, 503 and 504 back off; a record that
fails six times is parked (see --retry-failed).

The queue and the sweeps' progress are in the store: a mirror killed at any
point resumes where it was, and several mirrors on one PostgreSQL database
share the work. Progress goes to standard error, a summary ends the run.`)
		return c.run
	},
}

type mirrorConfig struct {
	data, db                        string
	cloud, source, authority        string
	tenant, clientID, secret, cert  string
	sourceCA, scope, notifyURL      string
	since, lookback, interval, deep time.Duration
	deepInterval, every             time.Duration
	once, reports, retryFailed      bool
	workers, batch                  int
	lease                           time.Duration
	logLevel, metricsAddr           string
}

func (c *mirrorConfig) check() error {
	if c.secret == "" {
		c.secret = os.Getenv("AZURE_CLIENT_SECRET")
	}
	cloud, ok := auth.LookupCloud(c.cloud)
	if !ok {
		return fmt.Errorf("%w: --cloud %q: use global, usgov, dod or china", errUsage, c.cloud)
	}
	if c.source == "" {
		c.source = cloud.GraphURL + "/beta"
	}
	if c.authority == "" {
		c.authority = cloud.LoginURL + "/"
	}
	if c.scope == "" {
		c.scope = cloud.GraphURL + "/.default" // Graph's, also when the source is another server of its API
	}
	for name, u := range map[string]string{"--source": c.source, "--authority": c.authority} {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("%w: %s %q is not an absolute https URL", errUsage, name, u)
		}
	}
	c.source = strings.TrimSuffix(c.source, "/")
	switch {
	case c.tenant == "":
		return fmt.Errorf("%w: the source tenant is required: --tenant or AZURE_TENANT_ID", errUsage)
	case c.clientID == "":
		return fmt.Errorf("%w: the app's client id is required: --client-id or AZURE_CLIENT_ID", errUsage)
	case c.secret == "" && c.cert == "":
		return fmt.Errorf("%w: a client secret (AZURE_CLIENT_SECRET) or certificate (AZURE_CLIENT_CERTIFICATE_PATH) is required", errUsage)
	case c.since <= 0 || c.lookback <= 0 || c.interval <= 0 || c.deep <= 0 || c.deepInterval <= 0:
		return fmt.Errorf("%w: --since, --lookback, --interval, --deep and --deep-interval must be positive", errUsage)
	case c.notifyURL != "" && c.once:
		return fmt.Errorf("%w: --notify-url is for following; --once backfills and exits", errUsage)
	case c.workers < 1 || c.batch < 1 || c.lease <= 0:
		return fmt.Errorf("%w: --workers and --batch must be 1 or more, --lease positive", errUsage)
	}
	if c.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.metricsAddr); err != nil {
			return fmt.Errorf("%w: --metrics-addr %q: %v", errUsage, c.metricsAddr, err)
		}
	}
	return nil
}

func (c *mirrorConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	if err := c.check(); err != nil {
		return err
	}
	logger, flushLog, err := newLogger(std, c.logLevel, "text")
	if err != nil {
		return err
	}
	defer flushLog()
	store, err := openStore(ctx, c.data, c.db)
	if err != nil {
		return err
	}
	defer store.Close()
	ms, ok := store.(mirror.Store)
	if !ok {
		return errors.New("this store keeps no mirror progress")
	}
	// The source and the authority are the operator's choice, so plain
	// http is allowed only on loopback, for tests.
	policy := outbound.Policy{AllowHTTP: isLoopbackURL(c.source) && isLoopbackURL(c.authority)}
	if c.sourceCA != "" {
		if policy.RootCAs, err = outbound.LoadRoots(c.sourceCA); err != nil {
			return fmt.Errorf("--source-ca: %w", err)
		}
	}
	httpc := policy.Client(2 * time.Minute)
	client := &mirror.Client{
		Base:   c.source,
		Tokens: &mirror.TokenSource{Client: httpc, Creds: mirror.Credentials{Tenant: c.tenant, ClientID: c.clientID, Secret: c.secret, CertPath: c.cert, Authority: c.authority, Scope: c.scope}},
		HTTP:   httpc, Logger: logger, Limits: throttle.Graph(), Tenant: c.tenant, App: c.clientID,
	}
	m := &mirror.Mirror{Client: client, Store: ms, Tenant: c.tenant, Logger: logger, Workers: c.workers, Batch: c.batch, Lease: c.lease}
	if c.metricsAddr != "" {
		srv, err := serveMetrics(c.metricsAddr, mirrorMetrics(m, ms), logger, std)
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	if c.retryFailed {
		n, err := ms.UnparkMirror(ctx, c.tenant, c.source, time.Now())
		if err != nil {
			return err
		}
		logger.Info("parked records queued again", "records", n)
	}

	start := time.Now()
	stopProgress := c.showProgress(std, m, start)
	err = c.mirror(ctx, m, start)
	stopProgress()
	s := &m.Stats
	queued, parked, _ := ms.MirrorBacklog(context.WithoutCancel(ctx), c.tenant, c.source)
	fmt.Fprintf(std.err, "mirrored %d records (%d new, %d updated, %d unchanged, %d stored by another mirror), %d sessions, %d report rows from %s in %s; %d listed, %d requests, %d 429s, %s waited for limits (all workers), %d failed, %d queued, %d parked, %d with schema drift\n",
		s.Inserted.Load()+s.Replaced.Load(), s.Inserted.Load(), s.Replaced.Load(), s.Stale.Load(), s.Skipped.Load(), s.Sessions.Load(), s.Rows.Load(),
		c.source, time.Since(start).Round(time.Millisecond), s.Listed.Load(), client.Requests.Load(), client.Throttled.Load(),
		time.Duration(client.Waited.Load()).Round(time.Second), s.Failed.Load(), queued, parked, s.Drifted.Load())
	if err != nil {
		if ctx.Err() != nil && !c.once {
			return nil // stopped
		}
		return err
	}
	if c.once && parked > 0 {
		return fmt.Errorf("%d records could not be mirrored (parked): see the log, then run again with --retry-failed", parked)
	}
	return nil
}

// mirror backfills, then, unless --once, follows.
func (c *mirrorConfig) mirror(ctx context.Context, m *mirror.Mirror, start time.Time) error {
	from := start.Add(-c.since).UTC().Truncate(24 * time.Hour)
	backfill := func(ctx context.Context) error {
		if err := m.Sweep(ctx, from, start, "backfill"); err != nil {
			return err
		}
		if c.reports {
			return m.Reports(ctx, from, start, mirror.ReportFunctions)
		}
		return nil
	}
	if c.once {
		// Fetch while the sweep lists: a record is stored minutes, not a
		// whole backfill, after it is found; then what is still queued,
		// by the same workers.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		swept := make(chan struct{})
		drained := make(chan error, 1)
		go func() { drained <- m.DrainUntil(ctx, swept) }()
		berr := backfill(ctx)
		if berr != nil && ctx.Err() != nil {
			cancel()
			<-drained
			return berr
		}
		// A window the source could not list fails the run, after what the
		// other windows queued is fetched.
		close(swept)
		if err := <-drained; err != nil {
			return err
		}
		return berr
	}

	errc := make(chan error, 2)
	go func() { errc <- m.Drain(ctx, true) }()
	if c.notifyURL != "" {
		go func() {
			for {
				if err := m.Subscribe(ctx, c.notifyURL); err != nil && ctx.Err() == nil {
					m.Logger.Error("subscribing to the source's notifications failed; the sweeps go on, and it is tried again in a minute", "err", err)
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Minute):
					}
					continue
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Hour):
				}
			}
		}()
	}
	go func() {
		// A backfill that fails (a window the source cannot list) is tried
		// again at each interval, from its checkpoint, while the sweeps
		// follow the source: the days it could list are queued already.
		backfilled := false
		tryBackfill := func() {
			if err := backfill(ctx); err != nil {
				if ctx.Err() == nil {
					m.Logger.Error("the backfill is not complete; it goes on from its checkpoint at the next interval", "err", err)
				}
				return
			}
			backfilled = true
		}
		tryBackfill()
		lastDeep := time.Now()
		for {
			select {
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			case <-time.After(c.interval):
			}
			if !backfilled {
				tryBackfill()
			}
			now := time.Now()
			window := c.lookback
			if now.Sub(lastDeep) >= c.deepInterval {
				window, lastDeep = c.deep, now
			}
			if err := m.Sweep(ctx, now.Add(-window), now, ""); err != nil {
				if ctx.Err() != nil {
					errc <- ctx.Err()
					return
				}
				m.Logger.Error("sweep failed; trying again at the next interval", "err", err)
				continue
			}
			if c.reports {
				day := now.UTC().Truncate(24 * time.Hour)
				if err := m.Reports(ctx, day.Add(-24*time.Hour), now, mirror.ReportFunctions); err != nil && ctx.Err() == nil {
					m.Logger.Error("report rows failed; trying again at the next interval", "err", err)
				}
			}
		}
	}()
	return <-errc
}

// showProgress draws a progress line until the returned function is
// called.
func (c *mirrorConfig) showProgress(std stdio, m *mirror.Mirror, start time.Time) func() {
	line := newStatusLine(std.err, c.every, start)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				line.clear()
				return
			case <-time.After(200 * time.Millisecond):
			}
			elapsed, ok := line.due()
			if !ok {
				continue
			}
			s := &m.Stats
			stored := s.Inserted.Load() + s.Replaced.Load()
			rate := float64(s.Done()) / elapsed.Seconds()
			eta := ""
			if left := s.Queued.Load() - s.Done(); left > 0 && rate > 0 {
				eta = fmt.Sprintf(", %d to go (ETA %s)", left, (time.Duration(float64(left)/rate) * time.Second).Round(time.Second))
			}
			line.show(fmt.Sprintf("%d records stored (%.1f/s), %d sessions, %d listed, %d 429s, %d failed, lag %s%s",
				stored, float64(stored)/elapsed.Seconds(), s.Sessions.Load(), s.Listed.Load(),
				m.Client.Throttled.Load(), s.Failed.Load(), s.Lag(time.Now()).Round(time.Second), eta))
		}
	}()
	return func() { close(done); wg.Wait() }
}

// isLoopbackURL reports whether u's host is a loopback address or localhost.
func isLoopbackURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	h := p.Hostname()
	return h == "localhost" || h == "127.0.0.1" || h == "::1" || strings.HasPrefix(h, "127.")
}

// mirrorMetrics registers what a mirror counts, for Prometheus.
func mirrorMetrics(m *mirror.Mirror, store mirror.Store) *metrics.Registry {
	b := readBuild()
	reg := metrics.New(b.Version, b.Revision, b.Go)
	s, c := &m.Stats, m.Client
	for _, o := range []struct {
		outcome string
		n       func() int64
	}{{"inserted", s.Inserted.Load}, {"replaced", s.Replaced.Load}, {"stale", s.Stale.Load}, {"not_found", s.NotFound.Load}, {"parked", s.Parked.Load}, {"skipped", s.Skipped.Load}} {
		reg.Counter("mirror_records_total", "Queued records dealt with, by outcome: inserted, replaced (a higher version), stale (the store had it), not_found (gone from the source), parked (given up on), skipped (stored at the listed version by another mirror by the time it was claimed: not fetched).",
			prometheus.Labels{"outcome": o.outcome}, o.n)
	}
	registerCounters(reg, "mirror_", []counter{
		{"listed", "Records seen in the sweeps' list pages.", s.Listed.Load},
		{"queued", "Listed records queued because they were new or changed.", s.Queued.Load},
		{"fetched", "Records fetched whole from the source.", s.Fetched.Load},
		{"failed", "Fetches or stores that failed (retried later, or parked).", s.Failed.Load},
		{"sessions", "Sessions of the records stored.", s.Sessions.Load},
		{"report_rows", "PSTN and direct routing rows stored.", s.Rows.Load},
		{"drifted_records", "Records holding names callvault's schema does not declare, kept (callvault schema drift).", s.Drifted.Load},
		{"requests", "Requests made to the source, retries included.", c.Requests.Load},
		{"throttled", "429 answers from the source.", c.Throttled.Load},
	})
	reg.Counter("mirror_wait_seconds_total", "Time spent waiting for the client-side limiter or a Retry-After.", nil, func() int64 { return c.Waited.Load() / int64(time.Second) })
	reg.Gauge("mirror_lag_seconds", "From the end of the newest call fetched to now: how far the mirror is behind.", nil, func() float64 { return s.Lag(time.Now()).Seconds() })
	backlog := func(parked bool) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			q, p, err := store.MirrorBacklog(ctx, m.Tenant, c.Base)
			if err != nil {
				return math.NaN()
			}
			if parked {
				return float64(p)
			}
			return float64(q)
		}
	}
	reg.Gauge("mirror_backlog", "Records in the mirror's queue, by state: queued (to fetch) or parked (given up on until --retry-failed).", prometheus.Labels{"state": "queued"}, backlog(false))
	reg.Gauge("mirror_backlog", "Records in the mirror's queue, by state: queued (to fetch) or parked (given up on until --retry-failed).", prometheus.Labels{"state": "parked"}, backlog(true))
	return reg
}
