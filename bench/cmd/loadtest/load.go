package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// expected is what every response of a run must be: the status, and the
// body byte for byte (200) or its length (errors carry a request id and a
// date, which change but keep their length).
type expected struct {
	Status int
	Body   []byte
}

func (e *expected) check(status int, body []byte) error {
	switch {
	case status != e.Status:
		return fmt.Errorf("status %d, want %d: %.200s", status, e.Status, body)
	case e.Status == http.StatusOK && !bytes.Equal(body, e.Body):
		return fmt.Errorf("the body differs from the one captured (%d bytes, want %d)", len(body), len(e.Body))
	case len(body) != len(e.Body):
		return fmt.Errorf("body of %d bytes, want %d", len(body), len(e.Body))
	}
	return nil
}

// load is one closed-loop run: conns connections, each sending its next
// request as soon as the last response has been read whole.
type load struct {
	url      string // checked to be loopback
	pid      int    // the server's process, whose CPU time is measured
	header   http.Header
	expect   *expected
	conns    int
	warmup   time.Duration
	duration time.Duration
	max      int64 // at most this many requests are measured in all
	// next, when set, replaces fixed URLs: it gets the body just read and
	// returns the URL of the worker's next request (walking next links).
	next func(body []byte) string
}

// result is what a run measured.
type result struct {
	cpu      time.Duration // CPU time the server used during the measured time; 0 when unknown
	requests int64
	errors   int64
	firstErr error
	elapsed  time.Duration
	bytes    int64
	lat      []time.Duration // sorted
}

// add returns the results of two runs as one: their requests, time and
// latencies together.
func (r result) add(o result) result {
	r.cpu += o.cpu
	r.requests += o.requests
	r.errors += o.errors
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
	r.elapsed += o.elapsed
	r.bytes += o.bytes
	r.lat = append(r.lat, o.lat...)
	slices.Sort(r.lat)
	return r
}

// cpuPerRequest is the server's CPU time per request, which the other
// processes on the machine disturb far less than the rate.
func (r result) cpuPerRequest() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.requests)
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// quantile returns the q-quantile of the latencies (nearest rank).
func (r result) quantile(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(q*float64(len(r.lat))+0.999999) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

// newTransport returns a keep-alive transport that holds n connections,
// dials loopback only, never goes through a proxy and never compresses.
func newTransport(n int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         loopbackDialer(),
		MaxIdleConns:        n,
		MaxIdleConnsPerHost: n,
		MaxConnsPerHost:     n,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
		WriteBufferSize:     4 << 10,
		ReadBufferSize:      64 << 10,
	}
}

// run drives the load and returns what it measured.
func (l *load) run(ctx context.Context) result {
	tr := newTransport(l.conns)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	start := time.Now()
	measureFrom := start.Add(l.warmup)
	stop := measureFrom.Add(l.duration)
	var (
		count   atomic.Int64
		mu      sync.Mutex
		res     result
		lastEnd time.Time
		wg      sync.WaitGroup
	)
	var cpu0 time.Duration
	cpuc := make(chan time.Duration, 1)
	go func() { // the server's CPU time when the measured time starts
		time.Sleep(time.Until(measureFrom))
		t, _ := cpuTime(l.pid)
		cpuc <- t
	}()
	for range l.conns {
		wg.Go(func() {
			var lat []time.Duration
			var errs, nbytes int64
			var firstErr error
			var end time.Time
			var body bytes.Buffer
			header := l.header.Clone()
			url := l.url
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(stop) {
					break
				}
				measured := !t0.Before(measureFrom)
				if measured && count.Add(1) > l.max {
					break
				}
				err := l.do(ctx, client, url, header, &body)
				t1 := time.Now()
				switch {
				case err != nil:
					url = l.url
				case l.next != nil:
					if url = l.next(body.Bytes()); url == "" {
						url = l.url // the walk is over: start again from the first page
					}
				}
				if !measured {
					continue
				}
				end = t1
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				lat = append(lat, t1.Sub(t0))
				nbytes += int64(body.Len())
			}
			mu.Lock()
			defer mu.Unlock()
			res.lat = append(res.lat, lat...)
			res.errors += errs
			res.bytes += nbytes
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
			if end.After(lastEnd) {
				lastEnd = end
			}
		})
	}
	wg.Wait()
	cpu0 = <-cpuc
	if cpu1, err := cpuTime(l.pid); err == nil && cpu0 > 0 {
		res.cpu = cpu1 - cpu0
	}
	res.requests = int64(len(res.lat))
	if !lastEnd.IsZero() {
		res.elapsed = lastEnd.Sub(measureFrom)
	}
	slices.Sort(res.lat)
	return res
}

// do sends one request and reads its whole body into body.
func (l *load) do(ctx context.Context, client *http.Client, url string, header http.Header, body *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header = header
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	body.Reset()
	_, err = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if l.next != nil { // a walk: every page is a 200 of its own
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d: %.200s", resp.StatusCode, body.Bytes())
		}
		return nil
	}
	return l.expect.check(resp.StatusCode, body.Bytes())
}

// fetch gets url once, with header, and returns the status, the header
// and the body.
func fetch(ctx context.Context, url string, header http.Header) (int, http.Header, []byte, error) {
	if _, err := loopbackURL(url); err != nil {
		return 0, nil, nil, err
	}
	tr := newTransport(1)
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header = header
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body, err
}

// nextLink returns the @odata.nextLink of a page, or "". callvault writes
// it last and without escapes that matter to a URL.
func nextLink(body []byte) string {
	const key = `"@odata.nextLink":"`
	i := bytes.LastIndex(body, []byte(key))
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}
