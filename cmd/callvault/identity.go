package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/graph"
	"github.com/callvault/callvault/identity"
	"github.com/callvault/callvault/issuer"
	"github.com/callvault/callvault/tlsca"
	"github.com/callvault/callvault/tlslisten"
)

// openHome returns where the development issuer's keys, apps and CA are:
// the PostgreSQL database at dsn when there is one, else the data
// directory dir (whose SQLite database is not opened), and what closes it.
func openHome(ctx context.Context, dir, dsn, appsFile string) (*identity.Home, func(), error) {
	if dsn == "" {
		return identity.Open(nil, dir, appsFile), func() {}, nil
	}
	store, err := openStore(ctx, dir, dsn)
	if err != nil {
		return nil, nil, err
	}
	return identity.Open(store, dir, appsFile), func() { store.Close() }, nil
}

// identityConfig holds serve's flags for identity and transport: who issues
// the tokens it accepts, for which tenants and national cloud, and TLS.
type identityConfig struct {
	issuer, tenants, cloud, issuerURL, audiences, apps string
	tls, tlsCert, tlsKey                               string

	listener *tlslisten.Listener // what listen returned under TLS, for apply
}

// register adds the flags to serve's flag set.
func (c *identityConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.issuer, "issuer", "dev", "the `issuer` of the tokens the server accepts: dev (callvault itself: 'callvault token', and\n"+
		"the apps of 'callvault app' through /{tenant}/oauth2/v2.0/token), entra (Microsoft Entra ID,\n"+
		"for the tenants of --tenant) or oidc (the OpenID Connect issuer at --issuer-url)")
	fs.StringVar(&c.tenants, "tenant", "", "comma-separated tenant `IDs` whose tokens are accepted: required with --issuer entra\n"+
		"(ids or domains such as contoso.onmicrosoft.com); with dev and oidc, empty means any")
	fs.StringVar(&c.cloud, "cloud", "", "the national `cloud`: global, usgov, dod or china. It picks Entra ID's login host and Graph's\n"+
		"resource URI (the token audience), and makes the default --public-url that cloud's Graph,\n"+
		"such as https://graph.microsoft.us (default: global, with the listening address as public URL)")
	fs.StringVar(&c.issuerURL, "issuer-url", "", "with --issuer oidc, the issuer's `URL`; its discovery document is URL/.well-known/openid-configuration")
	fs.StringVar(&c.audiences, "audience", "", "comma-separated token `audiences` accepted instead of Graph's resource URI and app id")
	fs.StringVar(&c.apps, "apps", "", "the development issuer's app registry `file`, as 'callvault app' writes it (default: with --db\n"+
		"the database's registry, else DATA/apps.json)")
	fs.StringVar(&c.tls, "tls", "", "the TLS `mode`: 'auto' serves https with a certificate for localhost, 127.0.0.1 and ::1 (and the --public-url\n"+
		"host) from a local CA made once in DATA/tls, or with --db in the database; 'callvault ca' prints the path\n"+
		"of the CA's certificate, for SSL_CERT_FILE")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serve https with the certificate chain in this PEM `file` (read again when it changes)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "the PEM `file` of --tls-cert's private key")
}

// check validates the flags; it runs before anything is opened.
func (c *identityConfig) check() error {
	switch c.issuer {
	case "dev", "":
		if c.issuerURL != "" {
			return fmt.Errorf("%w: --issuer-url goes with --issuer oidc", errUsage)
		}
	case "entra":
		if len(c.tenantList()) == 0 {
			return fmt.Errorf("%w: --issuer entra needs --tenant: the tenants whose tokens are accepted", errUsage)
		}
		if c.issuerURL != "" {
			return fmt.Errorf("%w: --issuer-url goes with --issuer oidc; Entra ID's URL comes from --cloud", errUsage)
		}
	case "oidc":
		if c.issuerURL == "" {
			return fmt.Errorf("%w: --issuer oidc needs --issuer-url", errUsage)
		}
	default:
		return fmt.Errorf("%w: --issuer %q: use dev, entra or oidc", errUsage, c.issuer)
	}
	if c.cloud != "" {
		if _, ok := auth.LookupCloud(c.cloud); !ok {
			return fmt.Errorf("%w: --cloud %q: use global, usgov, dod or china", errUsage, c.cloud)
		}
	}
	switch {
	case c.tls != "" && c.tls != "auto" && c.tls != "off":
		return fmt.Errorf("%w: --tls %q: use auto, or --tls-cert and --tls-key", errUsage, c.tls)
	case c.tls == "auto" && (c.tlsCert != "" || c.tlsKey != ""):
		return fmt.Errorf("%w: --tls auto makes its own certificate; drop it to use --tls-cert and --tls-key", errUsage)
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	return nil
}

func (c *identityConfig) tenantList() []string { return splitList(c.tenants) }

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var items []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// cloudOf returns the national cloud of the flags, global by default.
func (c *identityConfig) cloudOf() auth.Cloud {
	name := c.cloud
	if name == "" {
		name = "global"
	}
	cloud, _ := auth.LookupCloud(name)
	return cloud
}

// authenticator returns what verifies the server's tokens and, for the
// development issuer, its discovery, keys and token endpoints. Remote
// issuers' keys are fetched now, so that a misspelt tenant stops the server
// at once; an issuer that cannot be reached is only logged, and tried again
// when tokens come.
func (c *identityConfig) authenticator(ctx context.Context, home *identity.Home, publicURL string, signer *auth.Signer, logger *slog.Logger) (graph.Authenticator, *http.ServeMux, error) {
	cloud := c.cloudOf()
	opts := auth.VerifierOptions{Audiences: splitList(c.audiences)}
	if len(opts.Audiences) == 0 && c.cloud != "" {
		opts.Audiences = []string{cloud.GraphURL, auth.GraphAppID}
	}
	var issuers *auth.Issuers
	var err error
	remote := auth.RemoteOptions{Logger: logger}
	switch c.issuer {
	case "entra":
		issuers, err = auth.EntraIssuers(cloud, c.tenantList(), remote)
	case "oidc":
		issuers, err = auth.OIDCIssuer(c.issuerURL, c.tenantList(), remote)
	default:
		// The development issuer also accepts 'callvault token' tokens, whose
		// audience is global Graph's, when it poses as another cloud.
		if c.audiences == "" && cloud.GraphURL != auth.GraphResource {
			opts.Audiences = append(opts.Audiences, auth.GraphResource)
		}
		opts.Tenants = c.tenantList()
		apps, err := home.Apps(ctx)
		if err != nil {
			return nil, nil, err
		}
		dev := &issuer.Issuer{
			Signer:    signer,
			Apps:      apps,
			Cloud:     cloud,
			Tenants:   opts.Tenants,
			PublicURL: publicURL,
			Logger:    logger,
		}
		return signer.Verifier(opts), dev.Routes(), nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errUsage, strings.TrimPrefix(err.Error(), "auth: "))
	}
	fetchCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := issuers.Refresh(fetchCtx); err != nil {
		if refused(err) {
			return nil, nil, fmt.Errorf("the token issuer refused: %w", err)
		}
		logger.Warn("the token issuer cannot be reached now; tokens are refused until it can", "err", err)
	}
	return issuers.Verifier(opts), nil, nil
}

// refused reports whether one of the errors joined in err is an issuer's
// 4xx answer: a misconfiguration, not an outage.
func refused(err error) bool {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			if refused(e) {
				return true
			}
		}
		return false
	}
	var fe *auth.FetchError
	return errors.As(err, &fe) && fe.StatusCode >= 400 && fe.StatusCode < 500
}

// listen wraps ln in TLS when the flags ask for it and returns the scheme
// clients use. With --tls auto it makes (once) a local CA and a server
// certificate for the loopback names and the public URL's host.
func (c *identityConfig) listen(ctx context.Context, ln net.Listener, home *identity.Home, publicURL string, std stdio) (net.Listener, string, error) {
	var cfg *tls.Config
	switch {
	case c.tls == "auto":
		hosts := []string{"localhost", "127.0.0.1", "::1"}
		if h, _, err := net.SplitHostPort(ln.Addr().String()); err == nil && !net.ParseIP(h).IsUnspecified() {
			hosts = append(hosts, h)
		}
		if u := hostOf(publicURL); u != "" {
			hosts = append(hosts, u)
		}
		cert, caPath, err := home.ServerCertificate(ctx, hosts, time.Now())
		if err != nil {
			ln.Close()
			return nil, "", err
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}}
		if caPath != "" {
			fmt.Fprintf(std.out, "TLS certificate from the local CA %s (export SSL_CERT_FILE=%s, or curl --cacert %s)\n", caPath, caPath, caPath)
		} else {
			fmt.Fprintf(std.out, "TLS certificate from the local CA in the database ('callvault ca --db URL' writes its certificate for SSL_CERT_FILE)\n")
		}
	case c.tlsCert != "":
		files, err := tlsca.LoadCertFiles(c.tlsCert, c.tlsKey)
		if err != nil {
			ln.Close()
			return nil, "", err
		}
		cfg = &tls.Config{GetCertificate: files.GetCertificate}
	default:
		return ln, "http", nil
	}
	cfg.MinVersion = tls.VersionTLS12
	cfg.NextProtos = []string{"h2", "http/1.1"}
	c.listener = tlslisten.New(ln, cfg)
	return c.listener, "https", nil
}

// apply gives the https listener the server's envelope for net/http's own
// errors, and its handshake timeout (the header timeout, as net/http's).
// It runs after limits.apply.
func (c *identityConfig) apply(srv *graph.Server, hs *http.Server, logger *slog.Logger) {
	if c.listener == nil {
		return
	}
	c.listener.WrapHTTP1 = srv.EnvelopeConn
	c.listener.HandshakeTimeout = hs.ReadHeaderTimeout
	c.listener.Logger = logger
}

// defaultPublicURL is the public URL when --public-url is not set: the
// Graph of the cloud named by --cloud, or else the listening address (as
// localhost over https, the name a client checks the certificate for).
func (c *identityConfig) defaultPublicURL(scheme string, addr net.Addr) string {
	if c.cloud != "" {
		return c.cloudOf().GraphURL
	}
	hostport := addr.String()
	if host, port, err := net.SplitHostPort(hostport); err == nil && scheme == "https" {
		if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
			hostport = net.JoinHostPort("localhost", port)
		}
	}
	return scheme + "://" + hostport
}

// hostOf returns the host name of a URL, or "".
func hostOf(raw string) string {
	if raw == "" {
		return ""
	}
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	if h, port, err := net.SplitHostPort(host); err == nil {
		if _, err := strconv.Atoi(port); err == nil {
			host = h
		}
	}
	return strings.Trim(host, "[]")
}
