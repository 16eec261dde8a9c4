package graph

import (
	"net/http"
	"time"
)

// serverBusy is the error of a request beyond Server.MaxRequests.
const serverBusy = "server_busy"

func init() {
	graphErrors[serverBusy] = struct {
		status int
		code   string
	}{http.StatusServiceUnavailable, "ServiceUnavailable"}
}

// stallChunk is how much of a response is written under one write
// deadline: a client must take at least this much every WriteStallTimeout
// (64 KiB in 30 s is about 2 KiB/s) to keep the response going.
const stallChunk = 64 << 10

// stallWriter fails a write that makes no progress for d: each chunk of
// stallChunk bytes gets a deadline of its own, so a slow reader that keeps
// reading is never cut off, and one that stops frees the handler within d.
type stallWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func newStallWriter(w http.ResponseWriter, d time.Duration) *stallWriter {
	sw := &stallWriter{ResponseWriter: w, rc: http.NewResponseController(w), d: d}
	// The connection may carry the deadline of its previous request, long
	// past: this request starts without one.
	sw.rc.SetWriteDeadline(time.Time{})
	return sw
}

func (w *stallWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		c := min(len(b), stallChunk)
		w.rc.SetWriteDeadline(time.Now().Add(w.d)) // an error means a writer without deadlines: nothing to bound
		m, err := w.ResponseWriter.Write(b[:c])
		n += m
		if err != nil {
			return n, err
		}
		b = b[c:]
	}
	return n, nil
}

// finish bounds the flush of what is buffered once the handler returns.
func (w *stallWriter) finish() { w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

// Unwrap lets http.ResponseController reach the connection.
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
