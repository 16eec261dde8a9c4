package auth

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Cloud is one of Microsoft's national clouds: where its Entra ID tokens
// come from and what its Graph is called.
type Cloud struct {
	Name     string // global, usgov, dod or china
	LoginURL string // Entra ID's authority host
	GraphURL string // Graph's base URL, also its resource URI: the aud of v1 tokens
}

// Clouds are the national clouds that serve the callRecords API, after
// "National cloud deployments" of the Graph documentation. China's login
// host is also reachable as login.partner.microsoftonline.cn; the issuers
// come from discovery, so either works.
var Clouds = []Cloud{
	{Name: "global", LoginURL: "https://login.microsoftonline.com", GraphURL: "https://graph.microsoft.com"},
	{Name: "usgov", LoginURL: "https://login.microsoftonline.us", GraphURL: "https://graph.microsoft.us"},
	{Name: "dod", LoginURL: "https://login.microsoftonline.us", GraphURL: "https://dod-graph.microsoft.us"},
	{Name: "china", LoginURL: "https://login.chinacloudapi.cn", GraphURL: "https://microsoftgraph.chinacloudapi.cn"},
}

// LookupCloud returns the cloud of that name (global, usgov, dod, china).
func LookupCloud(name string) (Cloud, bool) {
	for _, c := range Clouds {
		if c.Name == name {
			return c, true
		}
	}
	return Cloud{}, false
}

// RemoteOptions configure how the keys of remote issuers are fetched.
type RemoteOptions struct {
	// Client fetches discovery documents and key sets; a client with a
	// 10-second timeout if nil.
	Client *http.Client
	// Now returns the current time; time.Now if nil.
	Now func() time.Time
	// MinRefresh is the least time between two fetches of one issuer's keys
	// when a token names an unknown kid: it bounds what a stream of forged
	// tokens can make the server fetch. 5 minutes if 0.
	MinRefresh time.Duration
	// MaxAge is how long fetched keys are used before they are fetched
	// again (the old ones are kept if that fails). 24 hours if 0.
	MaxAge time.Duration
	// Logger reports fetches and their failures; none if nil.
	Logger *slog.Logger
}

// Issuers are the remote OpenID Connect issuers a Verifier trusts, with
// their signing keys: Microsoft Entra ID for some tenants, or one OIDC
// issuer. Discovery documents and key sets are fetched when first needed
// (or by Refresh), kept, fetched again after MaxAge, and fetched again when
// a token names an unknown kid, at most once per MinRefresh. Issuers is safe
// for concurrent use.
type Issuers struct {
	sources []*source
	entra   bool            // Entra ID: each issuer is bound to the tenant in its URL
	tenants map[string]bool // OIDC: the tenants accepted (nil: any)
	single  string          // OIDC: the tenant of tokens without tid

	client     *http.Client
	now        func() time.Time
	minRefresh time.Duration
	maxAge     time.Duration
	logger     *slog.Logger

	// gen counts the fetches that changed an issuer, its tenant or its
	// keys: a Verifier serves a cached token only while it is unchanged.
	gen atomic.Uint64
}

// source is one discovery document and the key set it points to.
type source struct {
	discovery string

	fetching sync.Mutex // one fetch at a time

	mu        sync.RWMutex
	issuer    string                    // from the document
	tenant    string                    // Entra: the tenant id in the issuer URL
	keys      map[string]*rsa.PublicKey // by kid
	fetched   time.Time                 // of the last successful fetch
	attempted time.Time                 // of the last fetch, good or bad
	err       error                     // of the last fetch
}

const (
	fetchTimeout  = 10 * time.Second
	maxFetchBytes = 1 << 20
	retryUnready  = 10 * time.Second // between fetches of an issuer never fetched
)

// tenantName is what Entra ID takes as a tenant in a URL: a GUID or a domain.
var tenantName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,255}$`)

// EntraIssuers trusts Microsoft Entra ID of cloud for tokens of tenants
// (tenant ids, or verified domain names such as contoso.onmicrosoft.com):
// both the v1 issuer (https://sts.windows.net/{tid}/ on the global cloud)
// and the v2 one (https://login.microsoftonline.com/{tid}/v2.0), each as its
// tenant's discovery document names it. Entra ID signs every tenant's tokens
// with the same keys, so a token is accepted only if its issuer is one of
// these tenants' and its tid is that tenant.
func EntraIssuers(cloud Cloud, tenants []string, opts RemoteOptions) (*Issuers, error) {
	if len(tenants) == 0 {
		return nil, errors.New("auth: Entra ID: name the tenants whose tokens are accepted")
	}
	login := strings.TrimSuffix(cloud.LoginURL, "/")
	if err := checkFetchURL(login); err != nil {
		return nil, fmt.Errorf("auth: Entra ID login URL: %w", err)
	}
	is := newIssuers(opts)
	is.entra = true
	for _, t := range tenants {
		switch strings.ToLower(t) {
		case "common", "organizations", "consumers":
			return nil, fmt.Errorf("auth: Entra ID: %q stands for many tenants; name each tenant whose tokens are accepted", t)
		}
		if !tenantName.MatchString(t) {
			return nil, fmt.Errorf("auth: Entra ID: %q is not a tenant id or domain name", t)
		}
		is.sources = append(is.sources,
			&source{discovery: login + "/" + t + "/v2.0/.well-known/openid-configuration"},
			&source{discovery: login + "/" + t + "/.well-known/openid-configuration"})
	}
	return is, nil
}

// OIDCIssuer trusts one OpenID Connect issuer, whose discovery document is
// issuerURL/.well-known/openid-configuration. A token's tenant is its tid
// claim; tokens without one belong to the only tenant of tenants, and are
// refused if there are several or none. Tenants, when not empty, are the
// only tenants accepted.
func OIDCIssuer(issuerURL string, tenants []string, opts RemoteOptions) (*Issuers, error) {
	issuerURL = strings.TrimSuffix(issuerURL, "/")
	if err := checkFetchURL(issuerURL); err != nil {
		return nil, fmt.Errorf("auth: OIDC issuer URL: %w", err)
	}
	is := newIssuers(opts)
	is.sources = []*source{{discovery: issuerURL + "/.well-known/openid-configuration"}}
	if len(tenants) > 0 {
		is.tenants = map[string]bool{}
		for _, t := range tenants {
			is.tenants[t] = true
		}
	}
	if len(tenants) == 1 {
		is.single = tenants[0]
	}
	return is, nil
}

func newIssuers(opts RemoteOptions) *Issuers {
	is := &Issuers{
		client:     opts.Client,
		now:        opts.Now,
		minRefresh: opts.MinRefresh,
		maxAge:     opts.MaxAge,
		logger:     opts.Logger,
	}
	if is.client == nil {
		is.client = &http.Client{Timeout: fetchTimeout}
	}
	if is.now == nil {
		is.now = time.Now
	}
	if is.minRefresh <= 0 {
		is.minRefresh = 5 * time.Minute
	}
	if is.maxAge <= 0 {
		is.maxAge = 24 * time.Hour
	}
	if is.logger == nil {
		is.logger = slog.New(slog.DiscardHandler)
	}
	return is
}

// checkFetchURL allows https URLs, and http ones on the loopback interface
// (a local issuer, a test).
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("%q is not an https URL (plain http is allowed on the loopback interface only)", raw)
}

// Verifier returns a Verifier that trusts these issuers.
func (is *Issuers) Verifier(opts VerifierOptions) *Verifier {
	return newVerifier(is, opts)
}

// Refresh fetches every issuer's discovery document and keys now, whatever
// the rate limit says. The error joins the failures; a *FetchError among
// them with a 4xx status means the issuer said no (a misspelt tenant).
func (is *Issuers) Refresh(ctx context.Context) error {
	var errs []error
	for _, src := range is.sources {
		src.fetching.Lock()
		err := is.fetch(ctx, src)
		src.fetching.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// FetchError is a discovery document or key set that could not be fetched
// because the server answered with an error status.
type FetchError struct {
	URL        string
	StatusCode int
	Detail     string // the error_description of an Entra ID error, or the start of the body
}

func (e *FetchError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("GET %s: HTTP %d", e.URL, e.StatusCode)
	}
	return fmt.Sprintf("GET %s: HTTP %d: %s", e.URL, e.StatusCode, e.Detail)
}

// refresh fetches src again unless it was fetched (or tried) too recently.
func (is *Issuers) refresh(src *source) {
	src.fetching.Lock()
	defer src.fetching.Unlock()
	src.mu.RLock()
	attempted, ready := src.attempted, src.keys != nil
	src.mu.RUnlock()
	interval := is.minRefresh
	if !ready {
		interval = min(interval, retryUnready)
	}
	if !attempted.IsZero() && is.now().Sub(attempted) < interval {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	is.fetch(ctx, src) // logged; the keys fetched before stay
}

// fetch reads src's discovery document and key set. The caller holds
// src.fetching.
func (is *Issuers) fetch(ctx context.Context, src *source) error {
	now := is.now()
	issuer, tenant, keys, err := is.load(ctx, src.discovery)
	src.mu.Lock()
	defer src.mu.Unlock()
	src.attempted, src.err = now, err
	if err != nil {
		is.logger.Warn("the keys of a trusted issuer could not be fetched", "discovery", src.discovery, "err", err)
		return err
	}
	changed := src.issuer != issuer || src.tenant != tenant || !sameKeys(src.keys, keys)
	src.issuer, src.tenant, src.keys, src.fetched = issuer, tenant, keys, now
	if changed {
		// After the new keys are in place: a verification that began
		// before this read the old generation, and its entry is never served.
		is.gen.Add(1)
	}
	return nil
}

// sameKeys reports whether two key sets hold the same keys under the same kids.
func sameKeys(a, b map[string]*rsa.PublicKey) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for kid, k := range a {
		if other, ok := b[kid]; !ok || !k.Equal(other) {
			return false
		}
	}
	return true
}

// load fetches a discovery document and the key set it names.
func (is *Issuers) load(ctx context.Context, discovery string) (issuer, tenant string, keys map[string]*rsa.PublicKey, err error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	body, err := is.get(ctx, discovery)
	if err != nil {
		return "", "", nil, err
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", "", nil, fmt.Errorf("%s is not an OpenID discovery document: %w", discovery, err)
	}
	if doc.Issuer == "" || doc.JWKSURI == "" {
		return "", "", nil, fmt.Errorf("the discovery document %s has no issuer or no jwks_uri", discovery)
	}
	if err := checkFetchURL(doc.JWKSURI); err != nil {
		return "", "", nil, fmt.Errorf("the discovery document %s: jwks_uri: %w", discovery, err)
	}
	if is.entra {
		var ok bool
		if tenant, ok = issuerPathTenant(doc.Issuer); !ok {
			return "", "", nil, fmt.Errorf("the discovery document %s names issuer %q, which has no tenant id", discovery, doc.Issuer)
		}
	}
	body, err = is.get(ctx, doc.JWKSURI)
	if err != nil {
		return "", "", nil, err
	}
	keys, skipped, err := parseJWKS(body)
	if err != nil {
		return "", "", nil, fmt.Errorf("%s: %w", doc.JWKSURI, err)
	}
	if len(keys) == 0 {
		return "", "", nil, fmt.Errorf("%s has no RSA signing key of 2048 bits or more", doc.JWKSURI)
	}
	is.logger.Info("trusted issuer's keys fetched", "issuer", doc.Issuer, "jwks_uri", doc.JWKSURI, "keys", len(keys), "skipped", skipped)
	return doc.Issuer, tenant, keys, nil
}

func (is *Issuers) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := is.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &FetchError{URL: u, StatusCode: resp.StatusCode}
		var entra struct {
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &entra) == nil && entra.Description != "" {
			e.Detail, _, _ = strings.Cut(entra.Description, "\r\n")
		} else {
			e.Detail = clip(strings.TrimSpace(string(body)))
		}
		return nil, e
	}
	if len(body) > maxFetchBytes {
		return nil, fmt.Errorf("GET %s: the response is larger than %d bytes", u, maxFetchBytes)
	}
	return body, nil
}

// issuerPathTenant returns the tenant of an Entra ID issuer URL, the first
// segment of its path: https://sts.windows.net/{tid}/ or
// https://login.microsoftonline.com/{tid}/v2.0.
func issuerPathTenant(iss string) (string, bool) {
	u, err := url.Parse(iss)
	if err != nil {
		return "", false
	}
	tenant, rest, _ := strings.Cut(strings.Trim(u.Path, "/"), "/")
	if !tenantName.MatchString(tenant) || (rest != "" && rest != "v2.0") {
		return "", false
	}
	return tenant, true
}

// find returns the source whose issuer is iss, if it has been fetched.
func (is *Issuers) find(iss string) *source {
	for _, src := range is.sources {
		src.mu.RLock()
		match := src.keys != nil && src.issuer == iss
		src.mu.RUnlock()
		if match {
			return src
		}
	}
	return nil
}

func (is *Issuers) verificationKey(iss, tid, kid string) (*rsa.PublicKey, error) {
	if iss == "" {
		return nil, unauthorized("Access token validation failure. Invalid issuer. The token has no issuer (iss claim).")
	}
	src := is.find(iss)
	if src == nil {
		// An issuer not fetched yet (it failed at start) may be the one.
		for _, s := range is.sources {
			s.mu.RLock()
			ready := s.keys != nil
			s.mu.RUnlock()
			if !ready {
				is.refresh(s)
			}
		}
		if src = is.find(iss); src == nil {
			return nil, is.unknownIssuer(iss, tid)
		}
	}
	src.mu.RLock()
	key, stale := src.keys[kid], is.now().Sub(src.fetched) > is.maxAge
	src.mu.RUnlock()
	if key != nil && !stale {
		return key, nil
	}
	// An unknown kid: the issuer may have rotated its keys. Rate limited,
	// so that forged kids cannot make the server hammer the issuer.
	is.refresh(src)
	src.mu.RLock()
	defer src.mu.RUnlock()
	return src.keys[kid], nil
}

// unknownIssuer explains why a token's issuer is not trusted.
func (is *Issuers) unknownIssuer(iss, tid string) error {
	unready := 0
	for _, src := range is.sources {
		src.mu.RLock()
		if src.keys == nil {
			unready++
		}
		if is.entra && tid != "" && src.tenant == tid {
			tid = "" // a trusted tenant: the issuer is what is wrong
		}
		src.mu.RUnlock()
	}
	switch {
	case unready > 0:
		return unauthorized("Access token validation failure. The signing keys of the issuers this server trusts " +
			"could not be fetched, so the token cannot be validated now; try again later.")
	case is.entra && tid != "":
		return untrustedTenant(tid)
	}
	return unauthorized("Access token validation failure. Invalid issuer. The issuer '%s' is not one this server trusts.", clipTo(iss, 200))
}

func (is *Issuers) generation() uint64 { return is.gen.Load() }

func (is *Issuers) tenant(iss, tid string) (string, error) {
	if is.entra {
		if tid == "" {
			return "", unauthorized("Access token validation failure. The token has no tenant id (tid claim).")
		}
		src := is.find(iss)
		if src == nil { // removed since the key was found: cannot happen, sources only grow
			return "", is.unknownIssuer(iss, tid)
		}
		src.mu.RLock()
		tenant := src.tenant
		src.mu.RUnlock()
		if tenant != tid {
			return "", unauthorized("Access token validation failure. Invalid issuer. "+
				"The issuer's tenant '%s' is not the token's tenant (tid claim) '%s'.", clip(tenant), clip(tid))
		}
		return tid, nil
	}
	if tid == "" {
		if is.single == "" {
			return "", unauthorized("Access token validation failure. The token has no tenant id (tid claim), " +
				"and this server is not set up with the one tenant its issuer's tokens belong to.")
		}
		return is.single, nil
	}
	if is.tenants != nil && !is.tenants[tid] {
		return "", untrustedTenant(tid)
	}
	return tid, nil
}
