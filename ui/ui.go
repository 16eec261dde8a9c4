// Package ui is callvault's web view at /ui/: an overview of call quality
// (the trend of poor % with volumes, the worst slices), a breakdown by any
// dimension, a list of calls and each call's own page. It is server-rendered
// HTML (html/template) with embedded styles, no script and nothing from
// another site, light and dark by the browser's preference. Its figures
// are package analytics', read from the classified streams.
//
// Sign-in fits a self-hosted tool: a one-time link (Link) that the server's
// console or `callvault ui` prints, exchanged for a session cookie; and,
// when serve trusts Entra ID or another issuer, OpenID Connect (OIDC).
package ui

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/analytics"
	"github.com/callvault/callvault/auth"
)

//go:embed assets templates
var content embed.FS

// Audiences of the web view's tokens: a sign-in link's, and a session's
// (the cookie). Neither is accepted by the Graph API.
const (
	LinkAudience    = "callvault-ui-signin"
	SessionAudience = "callvault-ui"
)

// LinkTTL is how long a sign-in link may be used (once); SessionTTL how
// long the session it opens lasts.
const (
	LinkTTL    = 15 * time.Minute
	SessionTTL = 12 * time.Hour
)

const cookieName = "callvault_ui"

// Server serves the web view.
type Server struct {
	Store   callvault.Store
	Quality callvault.QualityStore
	Signer  *auth.Signer // mints and checks the links and sessions
	API     http.Handler // the Graph API, for the JSON a page links to
	Logger  *slog.Logger
	Now     func() time.Time // the default period ends on its day; time.Now when nil
	OIDC    *OIDC            // the OpenID Connect sign-in, beside the one-time links; none when nil
	// Retention is serve's --retention: the pages count and list no call
	// the Graph API has forgotten. 0 keeps everything.
	Retention time.Duration
	// RollupWait is how long the overview and the breakdown wait for the
	// daily rollup's dirty days to be computed, when the store has a
	// rollup, before they answer from it as it stands and say so: after an
	// import that changed a weekday of a large tenant the computation
	// takes seconds. 0 waits until it is done (tests compare the pages'
	// figures with the API's); serve sets a fraction of a second.
	RollupWait time.Duration

	verifier   *auth.Verifier
	refreshing *rollupRefresh // the computation of dirty days under way, under mu
	pages      map[string]*template.Template
	mu         sync.Mutex
	used       map[string]time.Time // links used, until they expire
	viewers    map[string]time.Time // tenant → when one of its people last opened a page
}

// Link returns a one-time sign-in link to the web view at base (the
// server's public URL) for a tenant.
func Link(signer *auth.Signer, base, tenant string) (string, error) {
	tok, err := signer.Mint(auth.TokenOptions{Tenant: tenant, TTL: LinkTTL, Audience: LinkAudience,
		Roles: []string{auth.RoleCallRecordsReadAll}})
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(base, "/") + "/ui/signin?code=" + url.QueryEscape(tok), nil
}

var funcs = template.FuncMap{
	"pct": func(p *float64) string {
		if p == nil {
			return "–"
		}
		return trimFloat(*p, 2) + " %"
	},
	"num": func(p *float64) string {
		if p == nil {
			return ""
		}
		return trimFloat(*p, 4)
	},
	"blank": func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	},
	"add": func(a, b int64) int64 { return a + b },
}

// Mount registers the web view's routes on mux, under /ui/.
func (s *Server) Mount(mux *http.ServeMux) error {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	s.verifier = s.Signer.Verifier(auth.VerifierOptions{Audiences: []string{LinkAudience, SessionAudience}, CacheSize: -1})
	s.used = map[string]time.Time{}
	s.pages = map[string]*template.Template{}
	for _, p := range []string{"overview", "breakdown", "calls", "call", "message"} {
		t, err := template.New(p).Funcs(funcs).ParseFS(content, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return err
		}
		s.pages[p] = t
	}
	assets, err := fs.Sub(content, "assets")
	if err != nil {
		return err
	}
	mux.Handle("GET /ui/assets/", http.StripPrefix("/ui/assets/", cacheFor(http.FileServerFS(assets))))
	mux.HandleFunc("GET /ui/signin", s.signin)
	if s.OIDC != nil {
		s.OIDC.init()
		mux.HandleFunc("GET /ui/oidc/login", s.oidcLogin)
		mux.HandleFunc("GET /ui/oidc/callback", s.oidcCallback)
	}
	mux.Handle("GET /ui/{$}", s.page(s.overview))
	mux.Handle("GET /ui/breakdown", s.page(s.breakdown))
	mux.Handle("GET /ui/calls", s.page(s.calls))
	mux.Handle("GET /ui/calls/{id}", s.page(s.call))
	mux.Handle("GET /ui/export", s.page(s.export))
	mux.Handle("GET /ui/graph/", s.page(s.graph))
	mux.HandleFunc("/ui", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusFound) })
	return nil
}

func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// session is a signed-in request's tenant and the token of its cookie.
type session struct {
	tenant string
	token  string
}

// page wraps a page handler: it needs a session, and renders errors.
func (s *Server) page(fn func(w http.ResponseWriter, r *http.Request, ses *session) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure(w)
		c, err := r.Cookie(cookieName)
		if err != nil && s.OIDC != nil && r.Method == http.MethodGet {
			http.Redirect(w, r, "/ui/oidc/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return
		}
		if err != nil {
			s.message(w, http.StatusUnauthorized, "Sign in", "You are not signed in to this callvault.")
			return
		}
		p, err := s.verifier.Verify(c.Value)
		if err != nil || p.Require(auth.RoleCallRecordsReadAll) != nil {
			s.message(w, http.StatusUnauthorized, "Sign in again", "Your session has ended.")
			return
		}
		s.viewed(p.Tenant)
		if err := fn(w, r, &session{tenant: p.Tenant, token: c.Value}); err != nil {
			status := http.StatusInternalServerError
			msg := "Something went wrong; the server's log says what."
			switch callvault.ErrorCode(err) {
			case callvault.EINVALID:
				status, msg = http.StatusBadRequest, callvault.ErrorMessage(err)
			case callvault.ENOTFOUND:
				status, msg = http.StatusNotFound, callvault.ErrorMessage(err)
			default:
				s.Logger.ErrorContext(r.Context(), "ui: page failed", "path", r.URL.Path, "err", err)
			}
			s.message(w, status, http.StatusText(status), msg)
		}
	})
}

// WarmFor is how long after its last page view a tenant's overview is
// kept warm by Warm.
const WarmFor = time.Hour

func (s *Server) viewed(tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.viewers == nil {
		s.viewers = map[string]time.Time{}
	}
	s.viewers[tenant] = time.Now()
}

// Warm asks the store the overview's questions over the default period for
// each tenant whose people opened a page within WarmFor, and for extra
// tenants, so that the store's kept answers (which a rollup refresh makes
// stale) are ready before the next person opens the overview: over a
// million sessions, a cold overview takes seconds and a kept one a tenth of
// a second. serve calls it after each background refresh of the rollup
// that computed a day. It returns how many tenants it warmed.
func (s *Server) Warm(ctx context.Context, extra ...string) (int, error) {
	s.mu.Lock()
	tenants := slices.Clone(extra)
	for t, at := range s.viewers {
		if time.Since(at) > WarmFor {
			delete(s.viewers, t)
		} else if !slices.Contains(tenants, t) {
			tenants = append(tenants, t)
		}
	}
	s.mu.Unlock()
	slices.Sort(tenants)
	period, err := analytics.ParseQuery(nil, s.now()) // the default period, as a page without from and to
	if err != nil {
		return 0, err
	}
	_, refresher := s.Quality.(callvault.QualityRollupRefresher)
	for i, t := range tenants {
		files, err := analytics.LoadFiles(ctx, s.Quality, t)
		if err != nil {
			return i, err
		}
		// As the overview will ask: serve warms right after computing the
		// dirty days, so a store with a rollup answers from it as it stands.
		if _, err := analytics.RunAll(ctx, s.Quality, t, files, s.kept(refresher, OverviewQueries(period.From, period.To)...)); err != nil {
			return i, err
		}
	}
	return len(tenants), nil
}

// secure sets the headers of every page: nothing from elsewhere, no framing.
func secure(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (s *Server) message(w http.ResponseWriter, status int, heading, msg string) {
	s.render(w, status, "message", map[string]any{"Title": heading, "Heading": heading, "Message": msg, "Page": ""})
}

func (s *Server) render(w http.ResponseWriter, status int, page string, data any) {
	var b strings.Builder
	if err := s.pages[page].ExecuteTemplate(&b, "layout", data); err != nil {
		s.Logger.Error("ui: render", "page", page, "err", err)
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// signin exchanges a one-time link for a session cookie.
func (s *Server) signin(w http.ResponseWriter, r *http.Request) {
	secure(w)
	code := r.URL.Query().Get("code")
	p, err := s.verifier.Verify(code)
	if code == "" || err != nil || p.Require(auth.RoleCallRecordsReadAll) != nil || !s.once(code) {
		s.message(w, http.StatusUnauthorized, "This link does not sign you in", "The link is not valid, has expired or was used already.")
		return
	}
	s.startSession(w, r, p.Tenant, safeNext(r.URL.Query().Get("next")))
}

// startSession sets the session cookie of a tenant and sends the browser
// on to next.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, tenant, next string) {
	tok, err := s.Signer.Mint(auth.TokenOptions{Tenant: tenant, TTL: SessionTTL, Audience: SessionAudience,
		Roles: []string{auth.RoleCallRecordsReadAll}})
	if err != nil {
		s.Logger.Error("ui: mint a session", "err", err)
		http.Error(w, "sign-in failed", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/ui/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteLaxMode, MaxAge: int(SessionTTL / time.Second)})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext is where a sign-in may send the browser: only a page of the web
// view, never another site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.ContainsAny(next, "\\\r\n") || strings.Contains(next, "//") {
		return "/ui/"
	}
	return next
}

// once records a link as used and reports whether it was not before.
func (s *Server) once(code string) bool {
	sum := sha256.Sum256([]byte(code))
	k := hex.EncodeToString(sum[:])
	now := time.Now() // tokens expire by the wall clock, whatever Now says
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, until := range s.used {
		if now.After(until) {
			delete(s.used, c)
		}
	}
	if _, ok := s.used[k]; ok {
		return false
	}
	s.used[k] = now.Add(LinkTTL + 5*time.Minute) // past the link's life and the verifier's skew
	return true
}

// graph serves the Graph API's JSON of the signed-in tenant under
// /ui/graph/…, as GET /v1.0/… with the session's tenant: the links of a
// call's page.
func (s *Server) graph(w http.ResponseWriter, r *http.Request, ses *session) error {
	if s.API == nil {
		return callvault.Errorf(callvault.ENOTFOUND, "The Graph API is not served here.")
	}
	tok, err := s.Signer.Mint(auth.TokenOptions{Tenant: ses.tenant, TTL: 5 * time.Minute, Roles: []string{auth.RoleCallRecordsReadAll}})
	if err != nil {
		return err
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/v1.0/" + strings.TrimPrefix(r.URL.Path, "/ui/graph/")
	r2.URL.RawPath = ""
	r2.Header.Set("Authorization", "Bearer "+tok)
	r2.Header.Del("Cookie")
	w.Header().Del("Content-Security-Policy")
	s.API.ServeHTTP(w, r2)
	return nil
}

// rollupRefresh is one computation of the rollup's dirty days, which pages
// wait for: err is set before done is closed.
type rollupRefresh struct {
	done chan struct{}
	err  error
}

// current computes the daily rollup's dirty days, every tenant's as serve's
// background loop does, one computation at a time for all pages, and
// waits for it at most RollupWait (0: until it ends). stale says the page
// may answer from the rollup as it stands: the computation ended well, or
// is still running, which late says and the page tells its reader. With
// no rollup, or a computation that failed, stale is false: the store's own
// path then computes the days, or says why it cannot.
func (s *Server) current(ctx context.Context) (stale, late bool) {
	r, ok := s.Quality.(callvault.QualityRollupRefresher)
	if !ok {
		return false, false
	}
	s.mu.Lock()
	run := s.refreshing
	if run == nil {
		run = &rollupRefresh{done: make(chan struct{})}
		s.refreshing = run
		go func() {
			// Not the request's context: the computation goes on for the
			// next page when this one stops waiting.
			_, run.err = r.RefreshQualityRollup(context.Background())
			s.mu.Lock()
			s.refreshing = nil
			s.mu.Unlock()
			close(run.done)
		}()
	}
	s.mu.Unlock()
	var timeout <-chan time.Time
	if s.RollupWait > 0 {
		t := time.NewTimer(s.RollupWait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-run.done:
		if run.err != nil {
			s.Logger.WarnContext(ctx, "ui: the daily rollup's dirty days could not be computed", "err", run.err)
			return false, false
		}
		return true, false
	case <-timeout:
		return true, true
	case <-ctx.Done():
		return true, true
	}
}
