// Package auth turns a bearer token into a Principal and decides whether that
// principal may call the callRecords API, as Microsoft Graph does: RS256
// access tokens shaped like Entra ID's, application permissions (roles) only,
// delegated tokens refused.
//
// A Verifier trusts the keys of callvault's development issuer (a Signer),
// or remote issuers found by OpenID discovery (Issuers: Microsoft Entra ID
// of a national cloud for some tenants, or any OIDC issuer).
//
// It also holds callvault's development issuer: a Signer whose keys live in
// the data directory (rotated with RotateSigningKey) and which mints tokens
// that look like real Graph v1 access tokens, and the registry of the apps
// that get such tokens with a client secret (Apps).
//
// Every failure is a *callvault.Error: EUNAUTHORIZED (401) for a missing or
// bad token, EFORBIDDEN (403) for a good token without the permission.
package auth

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/callvault/callvault"
)

// Well-known identifiers of Microsoft Graph and of this API's permissions.
const (
	// GraphResource is Graph's resource URI, the audience of v1 tokens.
	GraphResource = "https://graph.microsoft.com"
	// GraphAppID is Graph's well-known application id, the audience of v2
	// tokens (and of some v1 tokens).
	GraphAppID = "00000003-0000-0000-c000-000000000000"

	// RoleCallRecordsReadAll is the application permission for every
	// callRecords endpoint.
	RoleCallRecordsReadAll = "CallRecords.Read.All"
	// RolePstnCallsReadAll also suffices for the PSTN and direct routing
	// report functions.
	RolePstnCallsReadAll = "CallRecord-PstnCalls.Read.All"
)

// Principal is the caller a verified token speaks for. A Verifier hands the
// same Principal to every request with the same token, so it is read-only.
type Principal struct {
	Tenant    string   // tid
	AppID     string   // appid (v1) or azp (v2)
	ObjectID  string   // oid
	Roles     []string // application permissions (roles claim)
	Scopes    []string // delegated permissions (scp claim, split on spaces)
	Delegated bool     // the token acts for a user: it has scp, or idtyp is "user"
}

// Require returns nil if p is an application (not a user) holding at least
// one of the roles anyOf. Otherwise it returns an EFORBIDDEN error that says
// what is missing, because this API, like Graph's, supports application
// permissions only.
//
// Require with no roles is a programming error and admits no one.
func (p *Principal) Require(anyOf ...string) error {
	if p == nil {
		return callvault.Errorf(callvault.EUNAUTHORIZED, "Access token is empty.")
	}
	if len(anyOf) == 0 {
		// A plain error, not a callvault.Error: the HTTP layer reports it as
		// an internal error, which is what a missing permission table is.
		return fmt.Errorf("auth: Require called without any role")
	}
	if p.Delegated {
		return callvault.Errorf(callvault.EFORBIDDEN,
			"This API supports only application permissions (%s); delegated (user) tokens are refused. "+
				"Use an app-only token from the client credentials flow.",
			strings.Join(anyOf, " or "))
	}
	for _, role := range anyOf {
		if slices.Contains(p.Roles, role) {
			return nil
		}
	}
	if len(anyOf) == 1 {
		return callvault.Errorf(callvault.EFORBIDDEN,
			"Insufficient privileges to complete the operation. The token lacks the application permission %s; "+
				"grant it to the app, have an administrator consent, and get a new token.",
			anyOf[0])
	}
	return callvault.Errorf(callvault.EFORBIDDEN,
		"Insufficient privileges to complete the operation. The token has none of the application permissions %s; "+
			"grant one to the app, have an administrator consent, and get a new token.",
		strings.Join(anyOf, ", "))
}

// BearerToken returns the access token of an Authorization header value of
// the form "Bearer <token>" (the scheme is case-insensitive). The token
// itself is not checked; see Verifier.Verify.
func BearerToken(header string) (string, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", callvault.Errorf(callvault.EUNAUTHORIZED, "Access token is empty.")
	}
	scheme, credentials, found := header, "", false
	if i := indexSpace(header); i >= 0 {
		scheme, credentials, found = header[:i], strings.TrimSpace(header[i:]), true
	}
	if !strings.EqualFold(scheme, "Bearer") {
		// Name the scheme only when it is one: a bare token pasted without
		// "Bearer " is a credential and must not be echoed into logs.
		if found && isSchemeName(scheme) {
			return "", callvault.Errorf(callvault.EUNAUTHORIZED,
				"The Authorization header uses the '%s' scheme; this API accepts only 'Bearer' access tokens.", scheme)
		}
		return "", callvault.Errorf(callvault.EUNAUTHORIZED,
			"The Authorization header must have the form 'Bearer <access token>'.")
	}
	if credentials == "" {
		return "", callvault.Errorf(callvault.EUNAUTHORIZED, "Access token is empty.")
	}
	if indexSpace(credentials) >= 0 {
		return "", callvault.Errorf(callvault.EUNAUTHORIZED,
			"The Authorization header must have the form 'Bearer <access token>', with no spaces in the token.")
	}
	return credentials, nil
}

// indexSpace is strings.IndexFunc(s, unicode.IsSpace), a byte at a time
// while s is ASCII: every request's token (1 to 3 KB) goes through it, and
// decoding each byte as a rune cost as much as the cached token check.
func indexSpace(s string) int {
	// Eight bytes at a time past those that are all printable ASCII
	// (0x21 to 0x7f): a token is only such bytes.
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		const ones, highs = 0x0101010101010101, 0x8080808080808080
		// A byte at or above 0x80, or below 0x21 (space and the controls).
		if (x|(x-0x21*ones))&highs != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			if j := strings.IndexFunc(s[i:], unicode.IsSpace); j >= 0 {
				return i + j
			}
			return -1
		}
		if asciiSpace[c] {
			return i
		}
	}
	return -1
}

// asciiSpace holds the ASCII bytes unicode.IsSpace accepts.
var asciiSpace = [utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// isSchemeName reports whether s looks like an HTTP authentication scheme
// name such as Basic, Digest or Negotiate.
func isSchemeName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
