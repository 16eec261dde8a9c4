// Package callvaulttest runs a callvault server in the test's own process,
// for tests of code written against Microsoft Graph's callRecords API: the
// official SDKs, a hand-written client, a reporting job. The server is the
// real one (the same routes, encoder, error envelope and paging as
// callvault serve), on SQLite in a temporary directory, listening on a
// loopback port:
//
//	srv := callvaulttest.Start(t, callvaulttest.Options{Demo: true})
//	resp, err := srv.Client().Get(srv.URL + "/v1.0/communications/callRecords")
//
// Client sends a token of the server's tenant with every request; Token
// mints others (other tenants, other roles), and the development issuer's
// token endpoint (POST /{tenant}/oauth2/v2.0/token) answers the apps that
// RegisterApp registers, for clients that get their own tokens. The
// analytics API (/analytics/v1/) and the web view (/ui/, SignInLink) are
// served too.
package callvaulttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/analytics"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/issuer"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
	"github.com/callvault/callvault/ui"
)

// DefaultTenant is the tenant of Options.Records when Options.Tenant is "":
// the tenant of Graph's documentation examples, which the demo data uses.
const DefaultTenant = synth.DemoTenant

// Options says what a Server holds.
type Options struct {
	// Tenant is the tenant Records are imported into and Client's token is
	// of; DefaultTenant when "".
	Tenant string
	// Records are call records in Graph's wire shape, as callvault import
	// reads them (a record, a JSON array of them, or JSON Lines), each
	// imported into Tenant. A record that does not validate fails
	// NewServer.
	Records [][]byte
	// Demo seeds the demo data of callvault serve --demo into DefaultTenant:
	// the named records of synth (synth.DemoMeetingID, a meeting of 150
	// sessions, among them) and DemoRecords generated calls over the 28 days
	// before today, with their PSTN and direct routing rows.
	Demo        bool
	DemoRecords int // with Demo: how many generated calls besides the named ones (0: none)
	// Ingest serves POST /ingest/v1/callRecords, as serve --ingest.
	Ingest bool
	// PublicURL is the base written into @odata.context and
	// @odata.nextLink, as serve --public-url (to pose as
	// https://graph.microsoft.com, say); URL when "". A client then
	// follows a next link by sending its path to URL.
	PublicURL string
	// Dir is the data directory (the SQLite database, the keys); a new
	// temporary one, removed by Close, when "".
	Dir string
	// Logger receives the server's logs; none when nil.
	Logger *slog.Logger
	// Now is the server's clock: the Demo's days end on its day, and the
	// retention and the web view's default period count from it. time.Now
	// when nil.
	Now func() time.Time
	// Retention is serve's --retention: records that ended longer ago are
	// gone from the Graph API, the analytics and the web view. 0 keeps
	// everything.
	Retention time.Duration
}

// Server is a callvault server running in this process.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:port: the Graph API is
	// under URL+"/v1.0" and URL+"/beta".
	URL string
	// Tenant is Options.Tenant (or DefaultTenant).
	Tenant string
	// Store is the server's store, for a test that puts or reads records
	// beside the API.
	Store callvault.Store

	signer  *auth.Signer
	apps    *auth.Apps
	http    *http.Server
	tempDir string // removed by Close; "" when Options.Dir was given
	served  chan error
	once    sync.Once
	closed  error
}

// Start is NewServer for a test: it fails t when the server cannot start,
// and closes the server when t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := NewServer(opts)
	if err != nil {
		t.Fatalf("callvaulttest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("callvaulttest: close: %v", err)
		}
	})
	return s
}

// NewServer starts a server holding what opts says, on a free loopback
// port. Close stops it.
func NewServer(opts Options) (_ *Server, err error) {
	s := &Server{Tenant: opts.Tenant, served: make(chan error, 1)}
	if s.Tenant == "" {
		s.Tenant = DefaultTenant
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "callvaulttest-"); err != nil {
			return nil, err
		}
		s.tempDir = dir
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "callvault.db"))
	if err != nil {
		return nil, err
	}
	s.Store = db
	if s.signer, err = auth.LoadOrCreateSigner(dir); err != nil {
		return nil, err
	}
	s.apps = auth.OpenApps(filepath.Join(dir, "apps.json"))
	if err := s.seed(ctx, opts); err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.URL = "http://" + ln.Addr().String()
	public := opts.PublicURL
	if public == "" {
		public = s.URL
	}
	key := make([]byte, 32)
	rand.Read(key)
	dev := &issuer.Issuer{Signer: s.signer, Apps: s.apps, PublicURL: public, Logger: logger}
	srv := &graph.Server{
		Store:     db,
		Auth:      s.signer.Verifier(auth.VerifierOptions{}),
		Extra:     dev.Routes(),
		Cursors:   odata.Cursors{Key: key},
		PublicURL: public,
		Logger:    logger,
		Now:       opts.Now,
		Retention: opts.Retention,
	}
	if opts.Ingest {
		srv.Extra.Handle(graph.IngestPath, srv.IngestHandler(graph.DefaultIngestLimit))
	}
	// The analytics API and the web view, as serve mounts them.
	(&analytics.Handler{Store: db, Auth: srv.Auth, Logger: logger, Now: opts.Now, Retention: opts.Retention}).Mount(srv.Extra)
	web := &ui.Server{Store: db, Quality: db, Signer: s.signer, API: srv.Handler(), Logger: logger, Now: opts.Now, Retention: opts.Retention}
	if err := web.Mount(srv.Extra); err != nil {
		return nil, err
	}
	s.http = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { s.served <- s.http.Serve(ln) }()
	return s, nil
}

// seed imports what opts asks for.
func (s *Server) seed(ctx context.Context, opts Options) error {
	if len(opts.Records) > 0 {
		var stats ingest.Stats
		var rejected []error
		im := &ingest.Importer{Store: s.Store, Tenant: s.Tenant, RecordsOnly: true,
			OnReject: func(r ingest.Rejection) { rejected = append(rejected, r) }}
		for i, rec := range opts.Records {
			if err := im.Import(ctx, fmt.Sprintf("Records[%d]", i), bytes.NewReader(rec), &stats); err != nil {
				return err
			}
		}
		if len(rejected) > 0 {
			return fmt.Errorf("records refused: %w", errors.Join(rejected...))
		}
	}
	if opts.Demo {
		// The data set of a test is small: written whole, then imported.
		now := time.Now()
		if opts.Now != nil {
			now = opts.Now()
		}
		cfg := synth.DemoConfig{Now: now.UTC().Truncate(24 * time.Hour), Seed: 1, Records: opts.DemoRecords}
		var rows, records bytes.Buffer
		if _, err := synth.WriteDemoRows(&rows, cfg); err != nil {
			return err
		}
		if _, err := synth.WriteDemo(&records, cfg); err != nil {
			return err
		}
		im := &ingest.Importer{Store: s.Store, Tenant: synth.DemoTenant}
		var stats ingest.Stats
		if err := im.Import(ctx, "demo report rows", &rows, &stats); err != nil {
			return err
		}
		if err := im.Import(ctx, "demo records", &records, &stats); err != nil {
			return err
		}
		if stats.Rejected > 0 {
			return fmt.Errorf("the demo data has %d bad records", stats.Rejected)
		}
	}
	return nil
}

// Token returns an app-only access token of tenant ("" for the server's)
// that the server accepts for a day, with roles, or with
// CallRecords.Read.All when none are given.
func (s *Server) Token(tenant string, roles ...string) (string, error) {
	if tenant == "" {
		tenant = s.Tenant
	}
	return s.Mint(auth.TokenOptions{Tenant: tenant, Roles: roles, TTL: 24 * time.Hour})
}

// Mint returns an access token as opts describes it (a delegated token, an
// expired one, another audience), signed by the server's key.
func (s *Server) Mint(opts auth.TokenOptions) (string, error) {
	return s.signer.Mint(opts)
}

// SignInLink returns a one-time link that signs a browser in to the web
// view at /ui/ for the server's tenant, as callvault ui prints, then takes
// it to next (a path of /ui/; the overview when "").
func (s *Server) SignInLink(next string) (string, error) {
	link, err := ui.Link(s.signer, s.URL, s.Tenant)
	if err != nil || next == "" {
		return link, err
	}
	return link + "&next=" + url.QueryEscape(next), nil
}

// RegisterApp registers an app of the server's tenant with the development
// issuer, and returns its client id and secret: a client that gets its own
// tokens (azidentity's ClientSecretCredential, with the authority host
// s.URL) gets them from the server's token endpoint.
func (s *Server) RegisterApp(name string, roles ...string) (clientID, secret string, err error) {
	if len(roles) == 0 {
		roles = []string{graph.RoleCallRecordsRead}
	}
	app, secret, err := s.apps.Add(auth.NewApp{Tenant: s.Tenant, Name: name, Roles: roles})
	if err != nil {
		return "", "", err
	}
	return app.ClientID, secret, nil
}

// Client returns an HTTP client that sends a token of the server's tenant
// (CallRecords.Read.All, valid for a day) with each request that has no
// Authorization header of its own.
func (s *Server) Client() *http.Client {
	token, err := s.Token("")
	return &http.Client{Transport: &bearer{token: token, err: err, base: http.DefaultTransport}, Timeout: time.Minute}
}

// bearer adds a token to the requests that carry none.
type bearer struct {
	token string
	err   error // minting the token failed: every request does
	base  http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.err != nil {
		return nil, b.err
	}
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.base.RoundTrip(r)
}

// Close stops the server, closes its store and removes its temporary data
// directory. It may be called more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		var errs []error
		if s.http != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			errs = append(errs, s.http.Shutdown(ctx))
			cancel()
			if err := <-s.served; !errors.Is(err, http.ErrServerClosed) {
				errs = append(errs, err)
			}
		}
		if s.Store != nil {
			errs = append(errs, s.Store.Close())
		}
		if s.tempDir != "" {
			errs = append(errs, os.RemoveAll(s.tempDir))
		}
		s.closed = errors.Join(errs...)
	})
	return s.closed
}
