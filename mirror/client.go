package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/outbound"
	"github.com/callvault/callvault/throttle"
)

// maxBody bounds one response: a page of sessions with segments is about
// 1 MB, a record with its first page of each expansion a few MB.
const maxBody = 256 << 20

// Client is a small Graph client for the callRecords API: app-only tokens,
// a client-side limiter that keeps under Graph's documented buckets, and
// retries that honour Retry-After to the second.
type Client struct {
	Base   string // the version's root, e.g. https://graph.microsoft.com/beta
	Tokens interface {
		Token(ctx context.Context) (string, error)
	}
	HTTP   *http.Client // an outbound client
	Logger *slog.Logger

	// Limits are the buckets to keep under (throttle.Graph() by default in
	// the command); Tenant and App key them.
	Limits      throttle.Limits
	Tenant, App string
	// MaxAttempts bounds the tries of one request (8 when 0): none is
	// retried forever.
	MaxAttempts int
	// Now and Sleep are for tests.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	buckets   throttle.Memory
	Requests  atomic.Int64 // made, retries included
	Throttled atomic.Int64 // 429s received
	Waited    atomic.Int64 // nanoseconds spent waiting for the limiter or Retry-After
}

// StatusError is an answer other than 2xx that was not retried, or still
// failed after the last attempt.
type StatusError struct {
	Method string
	Status int
	Code   string // Graph's error code, when the body had one
	Msg    string
	URL    string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.Status, e.Code, e.Msg)
}

// NotFound reports whether err is a 404.
func NotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == http.StatusNotFound
}

func (c *Client) log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	c.Waited.Add(int64(d))
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Get fetches a path below Base (or an absolute URL under it, such as a
// nextLink) and returns the body.
func (c *Client) Get(ctx context.Context, target string) ([]byte, error) {
	return c.Do(ctx, http.MethodGet, target, nil)
}

// Do makes a request with a JSON body (nil for none), with Get's limiter
// and retries, and returns the answer's body.
func (c *Client) Do(ctx context.Context, method, target string, body []byte) ([]byte, error) {
	u, err := c.resolve(target)
	if err != nil {
		return nil, err
	}
	rest, _ := strings.CutPrefix(u, strings.TrimSuffix(c.Base, "/")+"/")
	path, _, _ := strings.Cut(rest, "?")
	buckets := limiterBuckets(throttle.BucketsOf(c.Limits, throttle.RouteOf(path), c.Tenant, c.App))
	attempts := c.MaxAttempts
	if attempts <= 0 {
		attempts = 8
	}
	var last error
	for attempt := 1; attempt <= attempts; attempt++ {
		sent, err := c.admit(ctx, buckets)
		if err != nil {
			return nil, err
		}
		answer, wait, err := c.try(ctx, method, u, body, attempt)
		c.buckets.Restamp(sent, c.now(), buckets)
		if err == nil {
			return answer, nil
		}
		last = err
		if wait < 0 { // not worth retrying
			return nil, err
		}
		if wait == 0 {
			wait = backoff(attempt)
		}
		c.log().Debug("source request failed; retrying", "url", redact(u), "attempt", attempt, "wait", wait, "err", err)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("gave up after %d attempts: %w", attempts, last)
}

// rebase puts a link the source gave (a nextLink) under Base: a server
// behind a proxy or with another public URL writes links to its public
// host, and the token goes only to Base's. A link whose path is not under
// Base's path is refused.
func (c *Client) rebase(u string) (string, error) {
	base := strings.TrimSuffix(c.Base, "/") + "/"
	if strings.HasPrefix(u, base) {
		return u, nil
	}
	bu, err1 := url.Parse(base)
	lu, err2 := url.Parse(u)
	if err1 != nil || err2 != nil || !strings.HasPrefix(lu.EscapedPath(), bu.EscapedPath()) {
		return "", fmt.Errorf("the link %s is not under the source %s", redact(u), c.Base)
	}
	lu.Scheme, lu.Host, lu.User = bu.Scheme, bu.Host, nil
	return lu.String(), nil
}

// buckets converts a request's buckets for the limiter. Each keeps the
// source's own window: admit counts a request from when it is sent, and
// Do moves that count to when its answer came (Memory.Restamp). The source
// counted it on arrival, between the two, so the next request a window
// later can never arrive inside the source's window, even behind a first
// request that waited for its TLS handshake.
func limiterBuckets(buckets []throttle.Bucket) []callvault.Bucket {
	bs := make([]callvault.Bucket, len(buckets))
	for i, b := range buckets {
		bs[i] = callvault.Bucket{Key: b.Key, Limit: b.Limit.Requests, Window: b.Limit.Window}
	}
	return bs
}

// admit waits until every bucket of the request admits it, and returns the
// time it was counted at.
func (c *Client) admit(ctx context.Context, bs []callvault.Bucket) (time.Time, error) {
	for {
		now := c.now()
		refused, retryAt, err := c.buckets.TakeBuckets(ctx, now, bs)
		if err != nil {
			return time.Time{}, err
		}
		if refused < 0 {
			return now, nil
		}
		if err := c.sleep(ctx, retryAt.Sub(now)); err != nil {
			return time.Time{}, err
		}
	}
}

// try makes one request. wait is how long to wait before the next try: 0
// for the default backoff, negative for no retry.
func (c *Client) try(ctx context.Context, method, u string, reqBody []byte, attempt int) (body []byte, wait time.Duration, err error) {
	tok, err := c.Tokens.Token(ctx)
	if err != nil {
		return nil, -1, err
	}
	var rd io.Reader
	if reqBody != nil {
		rd = bytes.NewReader(reqBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, -1, err
	}
	if reqBody != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if method == http.MethodGet {
		// Without it Graph writes enum members newer than the client's
		// schema as unknownFutureValue: a copy must keep the member.
		req.Header.Set("Prefer", "include-unknown-enum-members")
	}
	if attempt > 1 {
		req.Header.Set("Retry-Attempt", strconv.Itoa(attempt-1)) // as the SDKs' retry handlers send it
	}
	c.Requests.Add(1)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, -1, ctx.Err()
		}
		return nil, 0, err // the network: retried
	}
	defer resp.Body.Close()
	body, rerr := outbound.ReadBody(resp.Body, maxBody)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if rerr != nil {
			return nil, 0, rerr
		}
		return body, 0, nil
	}
	se := &StatusError{Method: method, Status: resp.StatusCode, URL: redact(u)}
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(body, &e) == nil {
		se.Code, se.Msg = e.Error.Code, e.Error.Message
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		c.Throttled.Add(1)
		return nil, max(retryAfter(resp.Header.Get("Retry-After"), c.now()), time.Second), se
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusBadGateway, http.StatusInternalServerError:
		return nil, retryAfter(resp.Header.Get("Retry-After"), c.now()), se // 0: backoff
	case http.StatusForbidden, http.StatusNotFound:
		// Graph has been seen answering these with an empty message
		// during incidents (docs-contrib#4445, docs#11739): those are
		// retried; one that says why is an answer.
		if se.Msg == "" {
			return nil, 0, se
		}
	}
	return nil, -1, se
}

// retryAfter reads a Retry-After header: whole or fractional seconds, or
// an HTTP date; 0 when absent or unreadable.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if f, err := strconv.ParseFloat(h, 64); err == nil && f >= 0 && f < 86400 {
		return time.Duration(math.Ceil(f * float64(time.Second)))
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// backoff is the wait before try n+1 when the source said nothing: 1 s
// doubling to at most a minute, with up to a quarter of jitter.
func backoff(n int) time.Duration {
	d := time.Duration(min(math.Pow(2, float64(n-1)), 60) * float64(time.Second))
	return d + time.Duration(rand.Int64N(int64(d)/4+1))
}

// redact drops the query of a URL for logs: $skiptoken values are long and
// say nothing to a reader.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	p.RawQuery = ""
	return p.String()
}
