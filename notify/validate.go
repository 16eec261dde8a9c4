package notify

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/callvault/callvault/outbound"
)

// ValidationTimeout is how long Graph waits for an endpoint to answer the
// validation request.
const ValidationTimeout = 10 * time.Second

// Why a validation handshake failed; each is a Graph error of its own
// (package graph maps them).
var (
	// ErrValidationStatus: the endpoint did not answer 200 OK.
	//lint:ignore ST1005 Graph's exact message, which clients may match
	ErrValidationStatus = errors.New("Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.")
	// ErrValidationEcho: it answered 200 with another body than the token.
	//lint:ignore ST1005 Graph's exact message, which clients may match
	ErrValidationEcho = errors.New("Subscription validation request failed. Response must exactly match validationToken query parameter.")
	// ErrValidationTimeout: no answer within ValidationTimeout.
	//lint:ignore ST1005 Graph's exact message, which clients may match
	ErrValidationTimeout = errors.New("Subscription validation request timed out.")
)

// ValidationError is a failed handshake: Err is one of the ErrValidation
// errors, Detail says what happened for the log (and, bounded, the client).
type ValidationError struct {
	URL    string
	Err    error
	Detail string
}

func (e *ValidationError) Error() string { return e.Err.Error() }
func (e *ValidationError) Unwrap() error { return e.Err }

// NewValidationToken returns an opaque token of the kind Graph sends: text
// with spaces and colons, so that an endpoint that echoes it still
// URL-encoded fails here as it would on Graph.
func NewValidationToken() string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("Validation: Testing client application reachability for subscription Request-Id: %x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Validate makes Graph's validation request to rawURL: POST
// {url}?validationToken={token}, Content-Type text/plain, no body; the
// endpoint must answer 200 within ValidationTimeout with the decoded token
// as its body. The URL's own query is kept. client is an outbound client;
// timeout is ValidationTimeout when 0.
func Validate(ctx context.Context, client *http.Client, rawURL, token string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = ValidationTimeout
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return &ValidationError{URL: rawURL, Err: ErrValidationStatus, Detail: err.Error()}
	}
	u.RawQuery = addQuery(u.RawQuery, "validationToken", token)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return &ValidationError{URL: rawURL, Err: ErrValidationStatus, Detail: err.Error()}
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil || isTimeout(err) {
			return &ValidationError{URL: rawURL, Err: ErrValidationTimeout, Detail: err.Error()}
		}
		return &ValidationError{URL: rawURL, Err: ErrValidationStatus, Detail: err.Error()}
	}
	defer resp.Body.Close()
	body, err := outbound.ReadBody(resp.Body, 64<<10)
	if resp.StatusCode != http.StatusOK {
		return &ValidationError{URL: rawURL, Err: ErrValidationStatus, Detail: fmt.Sprintf("the endpoint answered %s", resp.Status)}
	}
	if err != nil {
		if ctx.Err() != nil || isTimeout(err) {
			return &ValidationError{URL: rawURL, Err: ErrValidationTimeout, Detail: err.Error()}
		}
		return &ValidationError{URL: rawURL, Err: ErrValidationEcho, Detail: err.Error()}
	}
	if string(body) != token {
		return &ValidationError{URL: rawURL, Err: ErrValidationEcho, Detail: "the body was not the decoded validationToken"}
	}
	return nil
}

// addQuery appends name=value to a raw query, encoded as Graph (a .NET
// service) encodes it: spaces as '+', lowercase percent escapes.
func addQuery(raw, name, value string) string {
	enc := url.QueryEscape(value)
	var sb strings.Builder
	for i := 0; i < len(enc); i++ {
		if enc[i] == '%' && i+2 < len(enc) {
			sb.WriteByte('%')
			sb.WriteString(strings.ToLower(enc[i+1 : i+3]))
			i += 2
			continue
		}
		sb.WriteByte(enc[i])
	}
	pair := name + "=" + sb.String()
	if raw == "" {
		return pair
	}
	return raw + "&" + pair
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
