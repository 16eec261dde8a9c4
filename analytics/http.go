package analytics

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
)

// Prefix is the path of the analytics API, callvault's own: versioned,
// separate from Graph's /v1.0 and /beta.
const Prefix = "/analytics/v1/"

// RoleFilesWrite is the application role that may upload a tenant's
// building and endpoint files: the role of callvault's ingest API, which
// writes the tenant's data too.
const RoleFilesWrite = "CallRecords.Ingest.All"

// maxFileBytes bounds an uploaded building or endpoint file.
const maxFileBytes = 16 << 20

// Verifier checks a bearer token: graph.Server's Auth.
type Verifier interface {
	Verify(token string) (*auth.Principal, error)
}

// Handler serves the analytics API for the tenant of each request's token.
// Reads need an app-only token with CallRecords.Read.All, as Graph's
// callRecords do; uploads RoleFilesWrite.
type Handler struct {
	Store  callvault.QualityStore
	Auth   Verifier
	Logger *slog.Logger
	Now    func() time.Time // time.Now when nil
	// Retention is serve's --retention: the figures leave out the streams of
	// the days the Graph API has forgotten (Horizon). 0 keeps everything.
	Retention time.Duration
}

// Mount registers the API's routes on mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle("GET "+Prefix+"streams", h.handle(auth.RoleCallRecordsReadAll, h.streams))
	mux.Handle("GET "+Prefix+"dimensions", h.handle(auth.RoleCallRecordsReadAll, h.listDimensions))
	mux.Handle("GET "+Prefix+"metrics", h.handle(auth.RoleCallRecordsReadAll, h.metrics))
	for _, kind := range []string{callvault.FileBuildings, callvault.FileEndpoints} {
		mux.Handle("GET "+Prefix+kind, h.handle(auth.RoleCallRecordsReadAll, h.getFile(kind)))
		mux.Handle("PUT "+Prefix+kind, h.handle(RoleFilesWrite, h.putFile(kind)))
	}
	mux.Handle(Prefix, h.handle(auth.RoleCallRecordsReadAll, func(w http.ResponseWriter, r *http.Request, _ string) error {
		return callvault.Errorf(callvault.ENOTFOUND, "No analytics resource is at %s; see %sdimensions, %sstreams, %sbuildings, %sendpoints.", r.URL.Path, Prefix, Prefix, Prefix, Prefix)
	}))
}

// handle authenticates a request, requires role, and runs fn for the
// token's tenant; an error fn returns is written as JSON.
func (h *Handler) handle(role string, fn func(w http.ResponseWriter, r *http.Request, tenant string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := func() error {
			tok, err := auth.BearerToken(r.Header.Get("Authorization"))
			if err != nil {
				return err
			}
			p, err := h.Auth.Verify(tok)
			if err != nil {
				return err
			}
			if err := p.Require(role); err != nil {
				return err
			}
			return fn(w, r, p.Tenant)
		}()
		if err != nil {
			h.writeError(w, r, err)
		}
	})
}

var statuses = map[string]struct {
	status int
	code   string
}{
	callvault.EINVALID:      {http.StatusBadRequest, "badRequest"},
	callvault.EUNAUTHORIZED: {http.StatusUnauthorized, "InvalidAuthenticationToken"},
	callvault.EFORBIDDEN:    {http.StatusForbidden, "Authorization_RequestDenied"},
	callvault.ENOTFOUND:     {http.StatusNotFound, "notFound"},
	callvault.EFULL:         {http.StatusInsufficientStorage, "insufficientStorage"},
	callvault.EINTERNAL:     {http.StatusInternalServerError, "internalServerError"},
}

// writeError answers in the envelope of Graph's errors.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := callvault.ErrorCode(err)
	var fe *FileError
	if errors.As(err, &fe) {
		code = callvault.EINVALID
	}
	s, ok := statuses[code]
	if !ok {
		s = statuses[callvault.EINTERNAL]
	}
	msg := callvault.ErrorMessage(err)
	if fe != nil {
		msg = "The file is refused: " + fe.Error()
	}
	if s.status == http.StatusInternalServerError {
		if h.Logger != nil {
			h.Logger.ErrorContext(r.Context(), "analytics: internal error", "path", r.URL.Path, "err", err)
		}
		msg = "An internal error occurred."
	}
	if s.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="callvault"`)
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]string{"code": s.code, "message": msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	w.Write(body)
}

// ParseQuery reads a Query from URL parameters: from and to (RFC 3339
// times or dates; by default the 28 days up to now), media, by (comma-
// separated dimensions), where.DIMENSION=VALUE, top and minStreams.
func ParseQuery(v map[string][]string, now time.Time) (Query, error) {
	get := func(k string) string {
		if s := v[k]; len(s) > 0 {
			return s[0]
		}
		return ""
	}
	q := Query{Media: get("media"), Where: map[string]string{}}
	var err error
	day := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	if q.To, err = parseTime(get("to"), day); err != nil {
		return q, callvault.Errorf(callvault.EINVALID, "to: %v", err)
	}
	if q.From, err = parseTime(get("from"), q.To.AddDate(0, 0, -28)); err != nil {
		return q, callvault.Errorf(callvault.EINVALID, "from: %v", err)
	}
	if by := get("by"); by != "" {
		q.By = strings.Split(by, ",")
	}
	for k, vs := range v {
		if d, ok := strings.CutPrefix(k, "where."); ok && len(vs) > 0 {
			q.Where[d] = vs[0]
		}
	}
	for _, n := range []struct {
		name string
		dst  *int64
	}{{"top", nil}, {"minStreams", &q.MinStreams}} {
		s := get(n.name)
		if s == "" {
			continue
		}
		i, err := strconv.ParseInt(s, 10, 32)
		if err != nil || i < 0 {
			return q, callvault.Errorf(callvault.EINVALID, "%s %q is not a count.", n.name, s)
		}
		if n.dst == nil {
			q.Top = int(i)
		} else {
			*n.dst = i
		}
	}
	return q, q.Check()
}

func parseTime(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) streams(w http.ResponseWriter, r *http.Request, tenant string) error {
	q, err := ParseQuery(r.URL.Query(), h.now())
	if err != nil {
		return err
	}
	q.NotBefore = Horizon(h.now(), h.Retention)
	files, err := LoadFiles(r.Context(), h.Store, tenant)
	if err != nil {
		return err
	}
	res, err := Run(r.Context(), h.Store, tenant, files, q)
	if err != nil {
		return err
	}
	if wantsCSV(r) {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		return WriteCSV(w, res)
	}
	return writeJSON(w, res)
}

func wantsCSV(r *http.Request) bool {
	f := r.URL.Query().Get("format")
	return f == "csv" || (f == "" && strings.HasPrefix(r.Header.Get("Accept"), "text/csv"))
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(b)
	return err
}

// CSVHeader is the columns of WriteCSV after the By dimensions.
var CSVHeader = []string{"streams", "good", "poor", "unclassified", "poorPercent",
	"calls", "goodCalls", "poorCalls", "unclassifiedCalls", "poorCallPercent",
	"avgJitterMs", "avgRoundTripMs", "avgPacketLoss", "avgDegradation", "avgConcealedRatio", "avgFrameRate"}

// WriteCSV writes a Result as CSV: a header of the By dimensions and
// CSVHeader, then a row per group (empty cells where a figure is nil).
func WriteCSV(w io.Writer, res *Result) error {
	cw := csv.NewWriter(w)
	cw.Write(append(append([]string{}, res.By...), CSVHeader...))
	for _, r := range res.Rows {
		cw.Write(append(append([]string{}, r.Keys...), csvFigures(&r)...))
	}
	cw.Flush()
	return cw.Error()
}

func csvFigures(r *Row) []string {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	f := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'g', -1, 64)
	}
	return []string{i(r.Streams), i(r.Good), i(r.Poor), i(r.Unclassified), f(r.PoorPercent),
		i(r.Calls), i(r.GoodCalls), i(r.PoorCalls), i(r.UnclassifiedCall), f(r.PoorCallPercent),
		f(r.AvgJitterMs), f(r.AvgRoundTripMs), f(r.AvgPacketLoss), f(r.AvgDegradation), f(r.AvgConcealed), f(r.AvgFrameRate)}
}

func (h *Handler) listDimensions(w http.ResponseWriter, _ *http.Request, _ string) error {
	return writeJSON(w, map[string]any{"dimensions": Dimensions()})
}

func (h *Handler) getFile(kind string) func(w http.ResponseWriter, r *http.Request, tenant string) error {
	return func(w http.ResponseWriter, r *http.Request, tenant string) error {
		body, err := h.Store.GetTenantFile(r.Context(), tenant, kind)
		if err != nil {
			return err
		}
		if body == nil {
			return callvault.Errorf(callvault.ENOTFOUND, "The tenant has no %s file; PUT one in CQD's format.", strings.TrimSuffix(kind, "s"))
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		_, err = w.Write(body)
		return err
	}
}

func (h *Handler) putFile(kind string) func(w http.ResponseWriter, r *http.Request, tenant string) error {
	return func(w http.ResponseWriter, r *http.Request, tenant string) error {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxFileBytes+1))
		if err != nil {
			return callvault.Errorf(callvault.EINVALID, "The file could not be read: %v", err)
		} else if len(body) > maxFileBytes {
			return callvault.Errorf(callvault.EINVALID, "The file is larger than %d bytes.", maxFileBytes)
		}
		n, err := ImportFile(r.Context(), h.Store, tenant, kind, body)
		if err != nil {
			return err
		}
		return writeJSON(w, map[string]any{"kind": kind, "rows": n})
	}
}

// ImportFile validates a building or endpoint file in CQD's format and makes
// it the tenant's active one; it returns how many rows it has.
func ImportFile(ctx context.Context, store callvault.QualityStore, tenant, kind string, body []byte) (int, error) {
	n := 0
	switch kind {
	case callvault.FileBuildings:
		b, err := ParseBuildings(body)
		if err != nil {
			return 0, err
		}
		n = b.Len()
	case callvault.FileEndpoints:
		e, err := ParseEndpoints(body)
		if err != nil {
			return 0, err
		}
		n = len(e)
	default:
		return 0, callvault.Errorf(callvault.EINVALID, "No file kind %q.", kind)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return 0, callvault.Errorf(callvault.EINVALID, "The file is empty.")
	}
	return n, store.PutTenantFile(ctx, tenant, kind, body)
}
