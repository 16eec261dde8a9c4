package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/callvault/callvault/auth"
)

// OIDC is an OpenID Connect sign-in to the web view, for a serve that
// trusts Microsoft Entra ID or another issuer: the authorization code flow
// with PKCE (S256), a state and a nonce. The ID token is checked by the
// same issuers the Graph API trusts (signature, issuer, tenant), with the
// client's id as its audience; its tenant is the tenant the session shows.
type OIDC struct {
	// Issuer is the issuer's URL: its discovery document is
	// Issuer/.well-known/openid-configuration.
	Issuer string
	// Issuers check the ID token (auth.EntraIssuers or auth.OIDCIssuer).
	Issuers *auth.Issuers
	// ClientID and ClientSecret are the web view's registration at the
	// issuer; the secret may be empty for a public client.
	ClientID, ClientSecret string
	// RedirectURL is the server's public URL of /ui/oidc/callback, as
	// registered at the issuer.
	RedirectURL string
	// Client makes the requests to the issuer; a client with a 10-second
	// timeout when nil.
	Client *http.Client

	verifier *auth.Verifier
	mu       sync.Mutex
	flows    map[string]oidcFlow // by state
	endpoint struct {
		authorization, token string
		fetched              time.Time
	}
}

// oidcFlow is a sign-in under way: what the callback must match.
type oidcFlow struct {
	verifier, nonce, next string
	until                 time.Time
}

// oidcFlowTTL is how long a sign-in at the issuer may take.
const oidcFlowTTL = 10 * time.Minute

// maxOIDCFlows bounds the sign-ins under way, so that requests to the
// login route cannot grow the server's memory.
const maxOIDCFlows = 10000

func (o *OIDC) init() {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	o.flows = map[string]oidcFlow{}
	o.verifier = o.Issuers.Verifier(auth.VerifierOptions{Audiences: []string{o.ClientID}, CacheSize: -1})
}

// discover reads the issuer's authorization and token endpoints, kept for
// an hour.
func (o *OIDC) discover(r *http.Request) (authorization, token string, err error) {
	o.mu.Lock()
	if time.Since(o.endpoint.fetched) < time.Hour {
		a, t := o.endpoint.authorization, o.endpoint.token
		o.mu.Unlock()
		return a, t, nil
	}
	o.mu.Unlock()
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, strings.TrimSuffix(o.Issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return "", "", err
	}
	res, err := o.Client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer res.Body.Close()
	var doc struct {
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
	}
	if res.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("discovery document: %s", res.Status)
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&doc); err != nil {
		return "", "", fmt.Errorf("discovery document: %w", err)
	}
	if doc.Authorization == "" || doc.Token == "" {
		return "", "", errors.New("discovery document: no authorization_endpoint or token_endpoint")
	}
	o.mu.Lock()
	o.endpoint.authorization, o.endpoint.token, o.endpoint.fetched = doc.Authorization, doc.Token, time.Now()
	o.mu.Unlock()
	return doc.Authorization, doc.Token, nil
}

func randomText() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// oidcLogin sends the browser to the issuer.
func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request) {
	secure(w)
	o := s.OIDC
	authz, _, err := o.discover(r)
	if err != nil {
		s.Logger.ErrorContext(r.Context(), "ui: OpenID Connect discovery", "issuer", o.Issuer, "err", err)
		s.message(w, http.StatusBadGateway, "Sign-in is unavailable", "The identity provider could not be reached; try again later.")
		return
	}
	state, flow := randomText(), oidcFlow{verifier: randomText(), nonce: randomText(), next: safeNext(r.URL.Query().Get("next")),
		until: time.Now().Add(oidcFlowTTL)}
	o.mu.Lock()
	now := time.Now()
	for k, f := range o.flows {
		if now.After(f.until) {
			delete(o.flows, k)
		}
	}
	full := len(o.flows) >= maxOIDCFlows
	if !full {
		o.flows[state] = flow
	}
	o.mu.Unlock()
	if full {
		s.message(w, http.StatusServiceUnavailable, "Sign-in is busy", "Too many sign-ins are under way; try again in a few minutes.")
		return
	}
	challenge := sha256.Sum256([]byte(flow.verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {o.ClientID},
		"redirect_uri":          {o.RedirectURL},
		"scope":                 {"openid profile"},
		"state":                 {state},
		"nonce":                 {flow.nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(challenge[:])},
		"code_challenge_method": {"S256"},
	}
	sep := "?"
	if strings.Contains(authz, "?") {
		sep = "&"
	}
	http.Redirect(w, r, authz+sep+q.Encode(), http.StatusFound)
}

// oidcCallback exchanges the issuer's code for an ID token, checks it, and
// opens a session for its tenant.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	secure(w)
	o := s.OIDC
	q := r.URL.Query()
	o.mu.Lock()
	flow, ok := o.flows[q.Get("state")]
	delete(o.flows, q.Get("state"))
	o.mu.Unlock()
	refuse := func(msg string, args ...any) {
		s.Logger.WarnContext(r.Context(), "ui: OpenID Connect sign-in refused", append([]any{"reason", msg}, args...)...)
		s.message(w, http.StatusUnauthorized, "You are not signed in", "The identity provider's answer was not accepted: "+msg+".")
	}
	switch {
	case !ok || time.Now().After(flow.until):
		refuse("the sign-in is unknown or took too long; start again")
		return
	case q.Get("error") != "":
		refuse("the identity provider said " + q.Get("error"))
		return
	case q.Get("code") == "":
		refuse("no authorization code")
		return
	}
	_, tokenURL, err := o.discover(r)
	if err != nil {
		refuse("the identity provider could not be reached", "err", err)
		return
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {o.RedirectURL},
		"client_id": {o.ClientID}, "code_verifier": {flow.verifier}}
	if o.ClientSecret != "" {
		form.Set("client_secret", o.ClientSecret)
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		refuse("the token endpoint is not a URL", "err", err)
		return
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := o.Client.Do(req)
	if err != nil {
		refuse("the token endpoint could not be reached", "err", err)
		return
	}
	defer res.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&tok); err != nil || res.StatusCode != http.StatusOK || tok.IDToken == "" {
		refuse("the token endpoint gave no ID token", "status", res.StatusCode)
		return
	}
	p, err := o.verifier.Verify(tok.IDToken)
	if err != nil {
		refuse("the ID token is not valid", "err", err)
		return
	}
	if nonceOf(tok.IDToken) != flow.nonce {
		refuse("the ID token's nonce is not this sign-in's")
		return
	}
	s.startSession(w, r, p.Tenant, flow.next)
}

// nonceOf reads the nonce claim of a JWT whose signature was checked.
func nonceOf(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Nonce string `json:"nonce"`
	}
	json.Unmarshal(b, &c)
	return c.Nonce
}
