// Package issuer serves callvault's development issuer over HTTP, shaped
// like Microsoft Entra ID's endpoints so that Graph clients (azidentity,
// MSAL, plain HTTP) get their tokens from callvault unchanged: per tenant an
// OpenID discovery document, a JSON Web Key Set, and a token endpoint for the
// client credentials grant with Entra ID's responses and AADSTS errors.
//
// The apps and their secrets are package auth's registry; the keys are the
// auth.Signer's, so tokens from the endpoint are the same as those of
// "callvault token".
package issuer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/internal/guid"
)

// Issuer is the development issuer. Signer and Apps are required.
type Issuer struct {
	Signer *auth.Signer
	Apps   *auth.Apps
	// Cloud is the national cloud whose Graph the tokens are for: the scope
	// a client asks for is its GraphURL + "/.default". Global if zero.
	Cloud auth.Cloud
	// Tenants, when not empty, are the only tenants served; the others get
	// Entra ID's "tenant not found".
	Tenants []string
	// PublicURL is the server's public base URL (its scheme is used when the
	// request's host is its host, behind a proxy that ends TLS). Optional.
	PublicURL string
	TokenTTL  time.Duration    // 1 hour if 0, as Entra ID's app tokens
	Now       func() time.Time // time.Now if nil
	Logger    *slog.Logger     // none if nil
}

// Routes returns the issuer's endpoints, relative to the server's root:
//
//	GET  /{tenant}/v2.0/.well-known/openid-configuration   the v2 discovery document
//	GET  /{tenant}/.well-known/openid-configuration        the v1 discovery document
//	GET  /{tenant}/discovery/v2.0/keys, /{tenant}/discovery/keys   the key set
//	POST /{tenant}/oauth2/v2.0/token                       client credentials, scope=…/.default
//	POST /{tenant}/oauth2/token                            client credentials, resource=… (v1)
func (is *Issuer) Routes() *http.ServeMux {
	if is.Cloud.GraphURL == "" {
		is.Cloud, _ = auth.LookupCloud("global")
	}
	if is.Logger == nil {
		is.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{tenant}/v2.0/.well-known/openid-configuration", is.handle(func(w http.ResponseWriter, r *http.Request) error { return is.discovery(w, r, true) }))
	mux.HandleFunc("/{tenant}/.well-known/openid-configuration", is.handle(func(w http.ResponseWriter, r *http.Request) error { return is.discovery(w, r, false) }))
	mux.HandleFunc("/{tenant}/discovery/v2.0/keys", is.handle(is.keys))
	mux.HandleFunc("/{tenant}/discovery/keys", is.handle(is.keys))
	mux.HandleFunc("/{tenant}/oauth2/v2.0/token", is.handle(func(w http.ResponseWriter, r *http.Request) error { return is.token(w, r, true) }))
	mux.HandleFunc("/{tenant}/oauth2/token", is.handle(func(w http.ResponseWriter, r *http.Request) error { return is.token(w, r, false) }))
	return mux
}

// handle turns a handler's error into the response, as Entra ID writes it:
// an *entraError as it is, auth.ErrBusy as Entra ID's throttling (429), any
// other error as Entra ID's server_error (AADSTS90100), with the cause in
// the server's log only.
func (is *Issuer) handle(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		if errors.Is(err, auth.ErrBusy) {
			tooManyRequests(w)
			return
		}
		var e *entraError
		if !errors.As(err, &e) {
			is.Logger.Error("issuer internal error", "path", r.URL.Path, "err", err)
			e = &entraError{status: http.StatusInternalServerError, error: "server_error", code: 90100,
				text: "An internal error occurred; the server's log has the details."}
		}
		is.fail(w, r, e)
	}
}

func (is *Issuer) now() time.Time {
	if is.Now != nil {
		return is.Now()
	}
	return time.Now()
}

// tenantName is what Entra ID takes as a tenant in a URL: a GUID, a domain,
// or common and organizations.
var tenantName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,255}$`)

// multiTenant are the tenant names that stand for many tenants; their
// discovery documents have the placeholder {tenantid} in the issuer.
func multiTenant(t string) bool {
	switch strings.ToLower(t) {
	case "common", "organizations", "consumers":
		return true
	}
	return false
}

// checkTenant returns Entra ID's "tenant not found" unless the tenant of the
// path is served.
func (is *Issuer) checkTenant(r *http.Request, code string) (string, *entraError) {
	t := r.PathValue("tenant")
	if tenantName.MatchString(t) && (len(is.Tenants) == 0 || multiTenant(t) || slices.Contains(is.Tenants, t)) {
		return t, nil
	}
	return "", &entraError{status: http.StatusBadRequest, error: code, code: 90002,
		text: fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. "+
			"Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", clip(t))}
}

// base returns the URL the client reached the server at, so that the
// discovery document names the same host (MSAL checks that the issuer's
// host is the authority's).
func (is *Issuer) base(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if u, err := url.Parse(is.PublicURL); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		scheme = u.Scheme
	}
	return scheme + "://" + r.Host
}

// discoveryDocument is an OpenID Provider Metadata document with the
// members of Entra ID's that mean something here, in Entra ID's order, and
// grant_types_supported, which Entra ID leaves out, to say what is served.
type discoveryDocument struct {
	TokenEndpoint                string   `json:"token_endpoint"`
	TokenEndpointAuthMethods     []string `json:"token_endpoint_auth_methods_supported"`
	JWKSURI                      string   `json:"jwks_uri"`
	ResponseModes                []string `json:"response_modes_supported"`
	SubjectTypes                 []string `json:"subject_types_supported"`
	IDTokenSigningAlgs           []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypes                []string `json:"response_types_supported"`
	Scopes                       []string `json:"scopes_supported,omitempty"`
	Issuer                       string   `json:"issuer"`
	RequestURIParameterSupported bool     `json:"request_uri_parameter_supported"`
	AuthorizationEndpoint        string   `json:"authorization_endpoint"`
	GrantTypes                   []string `json:"grant_types_supported"`
	TenantRegionScope            *string  `json:"tenant_region_scope"`
	CloudInstanceName            string   `json:"cloud_instance_name"`
	MSGraphHost                  string   `json:"msgraph_host"`
}

func (is *Issuer) discovery(w http.ResponseWriter, r *http.Request, v2 bool) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return &entraError{status: http.StatusMethodNotAllowed, error: "invalid_request", code: 900561,
			text: fmt.Sprintf("The endpoint only accepts GET, HEAD requests. Received a %s request.", clip(r.Method))}
	}
	tenant, e := is.checkTenant(r, "invalid_tenant")
	if e != nil {
		return e
	}
	base := is.base(r)
	// Entra ID writes a multi-tenant document with the placeholder.
	tid := tenant
	if multiTenant(tenant) {
		tid = "{tenantid}"
	}
	graphHost := strings.TrimPrefix(is.Cloud.GraphURL, "https://")
	doc := discoveryDocument{
		TokenEndpointAuthMethods: []string{"client_secret_post", "client_secret_basic"},
		ResponseModes:            []string{"query", "fragment", "form_post"},
		SubjectTypes:             []string{"pairwise"},
		IDTokenSigningAlgs:       []string{"RS256"},
		ResponseTypes:            []string{"code", "id_token", "code id_token", "id_token token"},
		AuthorizationEndpoint:    base + "/" + tenant + "/oauth2/v2.0/authorize",
		GrantTypes:               []string{"client_credentials"}, // all this issuer serves
		CloudInstanceName:        strings.TrimPrefix(strings.TrimPrefix(is.Cloud.LoginURL, "https://"), "login."),
		MSGraphHost:              graphHost,
	}
	if v2 {
		doc.TokenEndpoint = base + "/" + tenant + "/oauth2/v2.0/token"
		doc.JWKSURI = base + "/" + tenant + "/discovery/v2.0/keys"
		doc.Scopes = []string{"openid", "profile", "email", "offline_access"}
		doc.Issuer = base + "/" + tid + "/v2.0"
	} else {
		// Graph's access tokens are v1 tokens: this is the issuer they name.
		doc.TokenEndpoint = base + "/" + tenant + "/oauth2/token"
		doc.JWKSURI = base + "/common/discovery/keys"
		doc.AuthorizationEndpoint = base + "/" + tenant + "/oauth2/authorize"
		doc.Issuer = "https://sts.windows.net/" + tid + "/"
	}
	w.Header().Set("Cache-Control", "max-age=86400, private")
	writeJSON(w, http.StatusOK, doc)
	return nil
}

func (is *Issuer) keys(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return &entraError{status: http.StatusMethodNotAllowed, error: "invalid_request", code: 900561,
			text: fmt.Sprintf("The endpoint only accepts GET, HEAD requests. Received a %s request.", clip(r.Method))}
	}
	if _, e := is.checkTenant(r, "invalid_tenant"); e != nil {
		return e
	}
	// Short-lived, so that a client that does not look again on an unknown
	// kid still sees a rotated key soon.
	w.Header().Set("Cache-Control", "max-age=300, private")
	writeJSON(w, http.StatusOK, is.Signer.JWKS())
	return nil
}

// tokenResponse is Entra ID's answer to a client credentials request.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
}

// tokenResponseV1 is the v1 endpoint's, whose numbers are strings.
type tokenResponseV1 struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    string `json:"expires_in"`
	ExtExpiresIn string `json:"ext_expires_in"`
	ExpiresOn    string `json:"expires_on"`
	NotBefore    string `json:"not_before"`
	Resource     string `json:"resource"`
	AccessToken  string `json:"access_token"`
}

const maxTokenRequestBytes = 64 << 10

func (is *Issuer) token(w http.ResponseWriter, r *http.Request, v2 bool) error {
	if r.Method != http.MethodPost {
		return &entraError{status: http.StatusBadRequest, error: "invalid_request", code: 900561,
			text: fmt.Sprintf("The endpoint only accepts POST, OPTIONS requests. Received a %s request.", clip(r.Method))}
	}
	tenant, e := is.checkTenant(r, "invalid_request")
	if e != nil {
		return e
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequestBytes)
	if err := r.ParseForm(); err != nil {
		return &entraError{status: http.StatusBadRequest, error: "invalid_request", code: 90023,
			text: "The request body must be application/x-www-form-urlencoded parameters of at most 64 KiB."}
	}
	form := r.PostForm // parameters in the query string do not count, as on Entra ID
	grant := form.Get("grant_type")
	if grant == "" {
		return missingParameter("grant_type")
	}
	if grant != "client_credentials" {
		return &entraError{status: http.StatusBadRequest, error: "unsupported_grant_type", code: 70003,
			text: fmt.Sprintf("The app requested an unsupported grant type '%s'. callvault's development issuer serves the client_credentials grant only.", clip(grant))}
	}
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if user, pass, ok := r.BasicAuth(); ok { // client_secret_basic: RFC 6749 §2.3.1 form-encodes both
		if u, err := url.QueryUnescape(user); err == nil {
			clientID = u
		}
		if p, err := url.QueryUnescape(pass); err == nil {
			secret = p
		}
	}
	if clientID == "" {
		return missingParameter("client_id")
	}
	resource, e := is.requestedResource(form, tenant, v2)
	if e != nil {
		return e
	}
	if secret == "" {
		text := "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type."
		if form.Get("client_assertion") != "" {
			text = "'client_secret' is required for the 'client_credentials' grant type: callvault's development issuer does not take client assertions (certificates)."
		}
		return &entraError{status: http.StatusUnauthorized, error: "invalid_client", code: 7000216, text: text}
	}
	now := is.now()
	app, err := is.authenticate(tenant, clientID, secret, now)
	if err != nil {
		return err
	}
	ttl := is.TokenTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	token, err := is.Signer.Mint(auth.TokenOptions{
		Tenant:   app.Tenant,
		AppID:    app.ClientID,
		Roles:    append([]string{}, app.Roles...), // not nil: an app without roles gets none
		TTL:      ttl,
		Now:      now,
		Audience: resource,
	})
	if err != nil {
		return fmt.Errorf("token endpoint: mint: %w", err)
	}
	is.Logger.Info("token issued", "tenant", app.Tenant, "client_id", app.ClientID, "app", app.Name, "roles", app.Roles)
	// Entra ID reports a second less than the lifetime.
	expiresIn := int64(ttl/time.Second) - 1
	noStore(w)
	if v2 {
		writeJSON(w, http.StatusOK, tokenResponse{TokenType: "Bearer", ExpiresIn: expiresIn, ExtExpiresIn: expiresIn, AccessToken: token})
		return nil
	}
	writeJSON(w, http.StatusOK, tokenResponseV1{
		TokenType:    "Bearer",
		ExpiresIn:    strconv.FormatInt(expiresIn, 10),
		ExtExpiresIn: strconv.FormatInt(expiresIn, 10),
		ExpiresOn:    strconv.FormatInt(now.Add(ttl).Unix(), 10),
		NotBefore:    strconv.FormatInt(now.Unix(), 10),
		Resource:     resource,
		AccessToken:  token,
	})
	return nil
}

// authenticate returns the app whose client id and secret the request
// sent, or the error Entra ID answers.
func (is *Issuer) authenticate(tenant, clientID, secret string, now time.Time) (auth.App, error) {
	app, err := is.Apps.Authenticate(tenant, clientID, secret, now)
	switch {
	case errors.Is(err, auth.ErrUnknownApp):
		return auth.App{}, &entraError{status: http.StatusBadRequest, error: "unauthorized_client", code: 700016,
			text: fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application "+
				"has not been installed by the administrator of the tenant or consented to by any user in the tenant. "+
				"You may have sent your authentication request to the wrong tenant.", clip(clientID), clip(tenant))}
	case errors.Is(err, auth.ErrWrongSecret):
		return auth.App{}, &entraError{status: http.StatusUnauthorized, error: "invalid_client", code: 7000215,
			text: fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "+
				"not the client secret ID, for a secret added to app '%s'.", clip(clientID))}
	case errors.Is(err, auth.ErrSecretExpired):
		return auth.App{}, &entraError{status: http.StatusUnauthorized, error: "invalid_client", code: 7000222,
			text: fmt.Sprintf("The provided client secret keys for app '%s' are expired. "+
				"Create a new secret with 'callvault app add', or remove the app.", clip(clientID))}
	case errors.Is(err, auth.ErrBusy):
		// Info, as every refusal: a warning is written at once, and a
		// flood of them would add a write to each request of the flood.
		is.Logger.Info("token request throttled: too many client secrets being checked at once", "tenant", clip(tenant), "client_id", clip(clientID))
		return auth.App{}, err
	case err != nil:
		return auth.App{}, fmt.Errorf("token endpoint: app registry: %w", err)
	}
	return app, nil
}

// requestedResource returns the resource the token is asked for: by the v2
// endpoint's scope (…/.default), by the v1 endpoint's resource.
func (is *Issuer) requestedResource(form url.Values, tenant string, v2 bool) (string, *entraError) {
	name := "resource"
	if v2 {
		name = "scope"
	}
	value := form.Get(name)
	if value == "" {
		return "", missingParameter(name)
	}
	if v2 {
		return is.scopeResource(value, tenant)
	}
	return value, is.checkResource(value, tenant)
}

// oidcScopes are the scopes MSAL adds to every request; Entra ID ignores
// them in the client credentials grant.
var oidcScopes = map[string]bool{"openid": true, "offline_access": true, "profile": true, "email": true}

// scopeResource returns the resource of a client credentials scope, which
// must be one resource's /.default.
func (is *Issuer) scopeResource(scope, tenant string) (string, *entraError) {
	var scopes []string
	for _, s := range strings.Fields(scope) {
		if !oidcScopes[s] {
			scopes = append(scopes, s)
		}
	}
	if len(scopes) > 1 {
		return "", &entraError{status: http.StatusBadRequest, error: "invalid_scope", code: 28000,
			text: fmt.Sprintf("Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", clip(scope))}
	}
	if len(scopes) == 0 {
		scopes = []string{scope}
	}
	resource, ok := strings.CutSuffix(scopes[0], "/.default")
	if !ok {
		return "", &entraError{status: http.StatusBadRequest, error: "invalid_scope", code: 1002012,
			text: fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default "+
				"suffixed to the resource identifier (application ID URI).", clip(scopes[0]))}
	}
	if e := is.checkResource(resource, tenant); e != nil {
		return "", e
	}
	return resource, nil
}

// checkResource accepts Microsoft Graph of the issuer's cloud, by its URI or
// its application id; the token's audience is the resource as asked for.
func (is *Issuer) checkResource(resource, tenant string) *entraError {
	if resource == is.Cloud.GraphURL || resource == auth.GraphAppID {
		return nil
	}
	return &entraError{status: http.StatusBadRequest, error: "invalid_resource", code: 500011,
		text: fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. This can happen if the application "+
			"has not been installed by the administrator of the tenant or consented to by any user in the tenant. "+
			"You might have sent your authentication request to the wrong tenant. callvault issues tokens for %s only.",
			clip(resource), clip(tenant), is.Cloud.GraphURL)}
}

// missingParameter is Entra ID's error for a request without a parameter
// it needs.
func missingParameter(name string) *entraError {
	return &entraError{status: http.StatusBadRequest, error: "invalid_request", code: 900144,
		text: fmt.Sprintf("The request body must contain the following parameter: '%s'.", name)}
}

// entraError is an error of Entra ID's token service, as a handler returns
// it for handle to write.
type entraError struct {
	status int
	error  string // the OAuth 2.0 error code
	code   int    // the AADSTS number
	text   string
}

func (e *entraError) Error() string { return fmt.Sprintf("AADSTS%d: %s: %s", e.code, e.error, e.text) }

// entraErrorBody is Entra ID's error JSON, in its member order.
type entraErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
}

// fail writes e as Entra ID does: the AADSTS code, text, trace and
// correlation ids and time in error_description, and each again on its own.
func (is *Issuer) fail(w http.ResponseWriter, r *http.Request, e *entraError) {
	trace := responseHeader(w, "request-id") // set by the Graph server's middleware
	if !guidForm.MatchString(trace) {
		trace = guid.New()
	}
	// MSAL sends a client-request-id, which Entra ID uses as the correlation
	// id; the Graph server's middleware has echoed it (or the request id).
	correlation := r.Header.Get("client-request-id")
	if id := responseHeader(w, "client-request-id"); id != "" {
		correlation = id
	}
	if !guidForm.MatchString(correlation) {
		correlation = guid.New()
	}
	ts := is.now().UTC().Format("2006-01-02 15:04:05Z")
	body := entraErrorBody{
		Error: e.error,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			e.code, e.text, trace, correlation, ts),
		ErrorCodes:    []int{e.code},
		Timestamp:     ts,
		TraceID:       trace,
		CorrelationID: correlation,
		ErrorURI:      strings.TrimSuffix(is.Cloud.LoginURL, "/") + "/error?code=" + strconv.Itoa(e.code),
	}
	is.Logger.Info("issuer request refused", "path", r.URL.Path, "status", e.status, "error", e.error, "aadsts", e.code, "trace_id", trace)
	w.Header().Set("x-ms-request-id", trace)
	noStore(w)
	writeJSON(w, e.status, body)
}

// responseHeader returns a header already set on the response, whatever its
// case: the Graph server sets request-id and client-request-id by key, in
// Graph's lower case.
func responseHeader(w http.ResponseWriter, name string) string {
	for k, v := range w.Header() {
		if strings.EqualFold(k, name) && len(v) == 1 {
			return v[0]
		}
	}
	return ""
}

// guidForm is a GUID in any case, as Entra ID takes one.
var guidForm = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// tooManyRequests answers as Entra ID answers a client credentials request
// it throttles: 429 with Retry-After, and the body "Too Many Requests"
// (learn.microsoft.com/entra/msal/dotnet/advanced/client-and-server-throttling;
// MSAL for .NET issue 2855 quotes the body). Entra ID asks for 60 seconds;
// callvault's queue of secret checks drains in well under one, so it asks
// for one.
func tooManyRequests(w http.ResponseWriter) {
	noStore(w)
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusTooManyRequests)
	io.WriteString(w, "Too Many Requests")
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed shapes are written
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// clip makes a value from the request fit to quote: at most 64 characters,
// nothing unprintable.
func clip(s string) string {
	const limit = 64
	var b strings.Builder
	for i, r := range []rune(s) {
		if i == limit {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
