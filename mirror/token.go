package mirror

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/callvault/callvault/outbound"
	"github.com/golang-jwt/jwt/v5"
)

// Credentials are an app's client credentials, as azidentity reads them
// from AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or
// AZURE_CLIENT_CERTIFICATE_PATH.
type Credentials struct {
	Tenant    string
	ClientID  string
	Secret    string // the client secret, or
	CertPath  string // a PEM file with the certificate and its RSA private key
	Authority string // e.g. https://login.microsoftonline.com/ (its tenant's token endpoint is below it)
	Scope     string // e.g. https://graph.microsoft.com/.default
}

// TokenSource gets and caches app-only access tokens with the client
// credentials grant, as azidentity's ClientSecretCredential and
// ClientCertificateCredential do: a token is used until five minutes before
// it expires.
type TokenSource struct {
	Creds  Credentials
	Client *http.Client // an outbound client
	Now    func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
	key     crypto.Signer
	thumb   string // the certificate's SHA-1 thumbprint, base64url (x5t)
}

func (ts *TokenSource) now() time.Time {
	if ts.Now != nil {
		return ts.Now()
	}
	return time.Now()
}

// Endpoint is the token endpoint of the tenant.
func (ts *TokenSource) Endpoint() string {
	return strings.TrimSuffix(ts.Creds.Authority, "/") + "/" + url.PathEscape(ts.Creds.Tenant) + "/oauth2/v2.0/token"
}

// Token returns a valid access token.
func (ts *TokenSource) Token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token != "" && ts.now().Before(ts.expires.Add(-5*time.Minute)) {
		return ts.token, nil
	}
	form := url.Values{
		"grant_type": {"client_credentials"},
		"client_id":  {ts.Creds.ClientID},
		"scope":      {ts.Creds.Scope},
	}
	switch {
	case ts.Creds.Secret != "":
		form.Set("client_secret", ts.Creds.Secret)
	case ts.Creds.CertPath != "":
		assertion, err := ts.assertion()
		if err != nil {
			return "", err
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	default:
		return "", errors.New("no client secret or certificate: set AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.Endpoint(), strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := ts.Client.Do(req)
	if err != nil {
		return "", fmt.Errorf("token endpoint %s: %w", ts.Endpoint(), err)
	}
	defer resp.Body.Close()
	body, err := outbound.ReadBody(resp.Body, 1<<20)
	if err != nil {
		return "", fmt.Errorf("token endpoint %s: %w", ts.Endpoint(), err)
	}
	var tr struct {
		AccessToken      string          `json:"access_token"`
		ExpiresIn        json.RawMessage `json:"expires_in"` // a number, or Entra ID v1's string
		Error            string          `json:"error"`
		ErrorDescription string          `json:"error_description"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || (resp.StatusCode == http.StatusOK && tr.AccessToken == "") {
		return "", fmt.Errorf("token endpoint %s answered %s with no token", ts.Endpoint(), resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint %s refused the credentials: %s: %s", ts.Endpoint(), tr.Error, firstLine(tr.ErrorDescription))
	}
	var seconds float64
	if err := json.Unmarshal(tr.ExpiresIn, &seconds); err != nil {
		var s string
		if json.Unmarshal(tr.ExpiresIn, &s) == nil {
			fmt.Sscan(s, &seconds)
		}
	}
	if seconds <= 0 {
		seconds = 3600
	}
	ts.token, ts.expires = tr.AccessToken, ts.now().Add(time.Duration(seconds)*time.Second)
	return ts.token, nil
}

// assertion returns a client assertion signed with the certificate's key,
// as Entra ID takes it: RS256, x5t the certificate's SHA-1 thumbprint, the
// token endpoint as audience.
func (ts *TokenSource) assertion() (string, error) {
	if ts.key == nil {
		key, thumb, err := loadCertificate(ts.Creds.CertPath)
		if err != nil {
			return "", err
		}
		ts.key, ts.thumb = key, thumb
	}
	var jti [16]byte
	rand.Read(jti[:])
	now := ts.now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"aud": ts.Endpoint(), "iss": ts.Creds.ClientID, "sub": ts.Creds.ClientID,
		"jti": hex.EncodeToString(jti[:]), "nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	})
	tok.Header["x5t"] = ts.thumb
	return tok.SignedString(ts.key)
}

// loadCertificate reads a PEM file holding a certificate and its RSA
// private key (PKCS#1 or PKCS#8), as AZURE_CLIENT_CERTIFICATE_PATH names it.
func loadCertificate(path string) (crypto.Signer, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	var cert *x509.Certificate
	var key crypto.Signer
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			if cert == nil {
				if cert, err = x509.ParseCertificate(block.Bytes); err != nil {
					return nil, "", fmt.Errorf("%s: %w", path, err)
				}
			}
		case "RSA PRIVATE KEY":
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, "", fmt.Errorf("%s: %w", path, err)
			}
			key = k
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, "", fmt.Errorf("%s: %w", path, err)
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, "", fmt.Errorf("%s: the private key cannot sign", path)
			}
			key = s
		}
	}
	if cert == nil || key == nil {
		return nil, "", fmt.Errorf("%s: want a PEM certificate and its private key (PKCS#12 files: convert them with openssl pkcs12 -nodes)", path)
	}
	sum := sha1.Sum(cert.Raw)
	return key, base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	s, _, _ = strings.Cut(s, "\r")
	return s
}
