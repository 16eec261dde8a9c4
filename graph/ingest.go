package graph

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/odata"
)

// The ingest API: POST /ingest/v1/callRecords, for platforms that publish
// their own call records. It is callvault's own, not Graph's, and off unless
// the server mounts it (serve --ingest).
const (
	// IngestPath is where the ingest API is served.
	IngestPath = "/ingest/v1/callRecords"
	// RoleCallRecordsIngest is the app role that may push records. It is
	// callvault's own: Graph has no such permission.
	RoleCallRecordsIngest = "CallRecords.Ingest.All"
	// DefaultIngestLimit bounds a request body, after gzip decompression.
	DefaultIngestLimit = 64 << 20
	// DefaultIngestConcurrency is how many ingest requests are validated
	// and stored at once when Server.IngestConcurrency is 0. A body is
	// spooled to a temporary file first, so a waiting request holds disk,
	// not memory; one being stored holds its largest record a few times
	// over (a 50 MB record: about 300 MB at the peak).
	DefaultIngestConcurrency = 2
	// ingestQueueWait is how long a request waits for its turn before it
	// is answered 503 with a Retry-After.
	ingestQueueWait = 30 * time.Second
)

// Error codes of the ingest API that have no domain code: only the HTTP
// layer knows about bodies.
const (
	payloadTooLarge      = "payload_too_large"
	unsupportedMediaType = "unsupported_media_type"
	ingestBusy           = "ingest_busy"
)

func init() {
	graphErrors[ingestBusy] = struct {
		status int
		code   string
	}{http.StatusServiceUnavailable, "ServiceUnavailable"}
	graphErrors[payloadTooLarge] = struct {
		status int
		code   string
	}{http.StatusRequestEntityTooLarge, "RequestEntityTooLarge"}
	graphErrors[unsupportedMediaType] = struct {
		status int
		code   string
	}{http.StatusUnsupportedMediaType, "UnsupportedMediaType"}
}

// IngestHandler returns the handler of POST /ingest/v1/callRecords, to mount
// on the Server's Extra mux at IngestPath. The body is call records in
// Graph's wire shape, as callvault import takes them (one JSON object,
// several, a JSON array, or JSON Lines), optionally gzip-compressed
// (Content-Encoding: gzip); at most limit bytes once decompressed (0 means
// DefaultIngestLimit). The token must be app-only with the role
// CallRecords.Ingest.All; the records go to the token's tenant.
//
// Each record is validated and stored whole or not at all, idempotent by id
// and version, exactly as by callvault import. The answer is 200 with one
// result per record, in body order; a body that cannot be read at all is a
// 400 and stores nothing, one over the limit a 413 that stores nothing.
//
// The body is spooled to a temporary file as it arrives (never held in
// memory whole), and at most IngestConcurrency requests are validated and
// stored at once; the others wait up to 30 seconds for their turn, then get
// a 503 with Retry-After.
func (s *Server) IngestHandler(limit int64) http.Handler {
	if limit <= 0 {
		limit = DefaultIngestLimit
	}
	n := s.IngestConcurrency
	if n <= 0 {
		n = DefaultIngestConcurrency
	}
	turns := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.serveIngest(w, r, limit, turns); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// ingestResult is one record's entry in the answer.
type ingestResult struct {
	index   int
	line    int
	id      string
	outcome string
	err     error
}

func (s *Server) serveIngest(w http.ResponseWriter, r *http.Request, limit int64, turns chan struct{}) error {
	tok, err := auth.BearerToken(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	p, err := s.Auth.Verify(tok)
	if err != nil {
		return err
	}
	requestInfo(r).Tenant = p.Tenant
	if err := p.Require(RoleCallRecordsIngest); err != nil {
		return err
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return callvault.Errorf(methodNotAllowed, "The %s method is not allowed on %s: POST call records to it.", r.Method, IngestPath)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !jsonMediaType(mt) {
			return callvault.Errorf(unsupportedMediaType, "The content type '%s' is not supported: send application/json or application/x-ndjson (JSON Lines).", ct)
		}
	}
	body, err := spoolIngestBody(w, r, limit)
	if err != nil {
		return err
	}
	defer body.Close()

	wait := time.NewTimer(ingestQueueWait)
	defer wait.Stop()
	select {
	case turns <- struct{}{}:
		defer func() { <-turns }()
	case <-wait.C:
		w.Header().Set("Retry-After", "10")
		return callvault.Errorf(ingestBusy, "Too many ingest requests are being stored at once; this one waited %s. Send it again in a few seconds.", ingestQueueWait)
	case <-r.Context().Done():
		return nil // the client is gone
	}

	// A body whose JSON breaks off (a JSON document or array that is not
	// well formed) is refused whole, before anything is stored: the client
	// then knows that nothing of it was taken.
	if err := checkStream(body.reader()); err != nil {
		return err
	}

	var results []ingestResult
	var stats ingest.Stats
	im := &ingest.Importer{
		Store:       s.Store,
		Tenant:      p.Tenant,
		RecordsOnly: true,
		OnResult: func(res ingest.Result) {
			out := ingestResult{index: res.Index, line: res.Line, id: res.ID, err: res.Err}
			if res.Err != nil {
				out.outcome = "rejected"
			} else {
				out.outcome = res.Outcome.String()
			}
			results = append(results, out)
		},
	}
	if err := im.Import(r.Context(), "body", body.reader(), &stats); err != nil {
		// The store failed: the records already reported stored are, the
		// others are not; the client sends the body again (it is idempotent).
		if r.Context().Err() == nil {
			return err
		}
		return nil // the client is gone
	}
	s.Ingested.add(stats)
	return writeIngestResults(w, results, stats)
}

// jsonMediaType reports whether mt is a media type of JSON or JSON Lines.
func jsonMediaType(mt string) bool {
	switch mt {
	case "application/json", "application/x-ndjson", "application/jsonl", "application/x-jsonlines",
		"application/jsonlines", "application/json-lines", "text/plain":
		return true
	}
	return strings.HasSuffix(mt, "+json")
}

// spooledBody is a request body on disk, in a temporary file that Close
// removes.
type spooledBody struct{ f *os.File }

// reader reads the body from its start.
func (b spooledBody) reader() io.Reader { return io.NewSectionReader(b.f, 0, 1<<62) }

func (b spooledBody) Close() error {
	err := b.f.Close()
	os.Remove(b.f.Name())
	return err
}

// spoolIngestBody copies the body to a temporary file, gunzipping it when it
// says so, and refuses it with a 413 when it is larger than limit: memory
// stays flat whatever the body's size. A full disk is a 507.
func spoolIngestBody(w http.ResponseWriter, r *http.Request, limit int64) (*spooledBody, error) {
	tooLarge := callvault.Errorf(payloadTooLarge, "The request body is larger than %d bytes (after decompression): send the records in several requests.", limit)
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	var src io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, bodyError(err, tooLarge, "The request body is not valid gzip: %v", err)
		}
		defer zr.Close()
		src = zr
	default:
		return nil, callvault.Errorf(unsupportedMediaType, "The content encoding '%s' is not supported: send the body as it is, or with Content-Encoding: gzip.", odata.Clip(enc))
	}
	f, err := os.CreateTemp("", "callvault-ingest-*")
	if err != nil {
		return nil, spoolError(err)
	}
	body := &spooledBody{f}
	var seen nonSpace
	n, err := io.Copy(io.MultiWriter(f, &seen), io.LimitReader(src, limit+1))
	if err != nil {
		body.Close()
		var pe *os.PathError
		if errors.As(err, &pe) { // the file's side: the disk
			return nil, spoolError(err)
		}
		return nil, bodyError(err, tooLarge, "The request body could not be read: %v", err)
	}
	if n > limit {
		body.Close()
		return nil, tooLarge
	}
	if !seen {
		body.Close()
		return nil, callvault.Errorf(callvault.EINVALID, "The request body is empty: send one or more call records.")
	}
	return body, nil
}

// spoolError is the error of a temporary file that cannot be written.
func spoolError(err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("spool the ingest body: %w: %w", callvault.ErrStorageFull, err)
	}
	return fmt.Errorf("spool the ingest body: %w", err)
}

// nonSpace records whether anything but JSON white space was written.
type nonSpace bool

func (s *nonSpace) Write(p []byte) (int, error) {
	if !*s && len(bytes.TrimLeft(p, " \t\r\n")) > 0 {
		*s = true
	}
	return len(p), nil
}

func bodyError(err error, tooLarge error, format string, args ...any) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge
	}
	return callvault.Errorf(callvault.EINVALID, format, args...)
}

// checkStream reads the body's records as the Importer will, and returns a
// 400 when the stream breaks off.
func checkStream(body io.Reader) error {
	rd := ingest.NewReader(body)
	for {
		_, _, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		var se *ingest.SyntaxError
		if errors.As(err, &se) {
			return callvault.Errorf(callvault.EINVALID, "The request body is not valid JSON at line %d, so no record of it was stored: %v", se.Line, se.Err)
		} else if err != nil {
			return callvault.Errorf(callvault.EINVALID, "The request body could not be read: %v", err)
		}
	}
}

// writeIngestResults writes the answer:
//
//	{"inserted":1,"replaced":0,"stale":0,"rejected":1,"value":[
//	  {"index":0,"line":1,"id":"…","outcome":"inserted"},
//	  {"index":1,"line":2,"outcome":"rejected","error":{"path":"$.sessions[0].id","reason":"…"}}]}
func writeIngestResults(w http.ResponseWriter, results []ingestResult, st ingest.Stats) error {
	b := make([]byte, 0, 64+96*len(results))
	b = fmt.Appendf(b, `{"inserted":%d,"replaced":%d,"stale":%d,"rejected":%d,"value":[`, st.Inserted, st.Replaced, st.Stale, st.Rejected)
	for i, res := range results {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"index":`...)
		b = strconv.AppendInt(b, int64(res.index), 10)
		b = append(b, `,"line":`...)
		b = strconv.AppendInt(b, int64(res.line), 10)
		if res.id != "" {
			b = append(b, `,"id":`...)
			b = odata.AppendString(b, res.id)
		}
		b = append(b, `,"outcome":`...)
		b = odata.AppendString(b, res.outcome)
		if res.err != nil {
			path, reason := "$", callvault.ErrorMessage(res.err)
			var ve *ingest.Error
			if errors.As(res.err, &ve) {
				path, reason = ve.Path, ve.Reason
			}
			b = append(b, `,"error":{"path":`...)
			b = odata.AppendString(b, path)
			b = append(b, `,"reason":`...)
			b = odata.AppendString(b, reason)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b) // an error here means the client is gone; nothing more can be sent
	return nil
}
