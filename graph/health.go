package graph

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/callvault/callvault"
)

// Probes for load balancers and orchestrators: no token, no store work
// beyond one cheap query, outside MaxRequests.
const (
	healthPath = "/healthz" // the process is up and serving
	readyPath  = "/readyz"  // and its store answers with this build's schema
)

// readyTimeout bounds the store check of /readyz: a probe must answer
// quickly, and a store that takes longer is not ready.
const readyTimeout = 2 * time.Second

// serveProbe answers /healthz and /readyz; it reports false for any other
// path.
func (s *Server) serveProbe(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != healthPath && r.URL.Path != readyPath {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.writeError(w, r, callvault.Errorf(methodNotAllowed, "The %s method is not allowed on %s: GET it.", r.Method, r.URL.Path))
		return true
	}
	status := `{"status":"ok"}`
	if r.URL.Path == readyPath {
		if err := s.storeReady(r.Context()); err != nil {
			s.Logger.WarnContext(r.Context(), "not ready: the store does not answer", "request_id", requestIDs(r.Context()).request, "err", err)
			s.writeError(w, r, callvault.Errorf(serverBusy, "The server is not ready: its store does not answer or lacks this build's migrations (the server's log says why)."))
			return true
		}
		status = `{"status":"ready"}`
		if rr, ok := s.Store.(callvault.ReplicaReporter); ok && len(rr.Replicas()) > 0 {
			// Counts only: the probe needs no token, and the replicas'
			// addresses and errors are for the log.
			in, all := 0, rr.Replicas()
			for _, r := range all {
				if r.InRotation {
					in++
				}
			}
			status = fmt.Sprintf(`{"status":"ready","readReplicas":{"inRotation":%d,"total":%d}}`, in, len(all))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte(status))
	}
	return true
}

// storeReady checks the store: its Ping when it is a callvault.Pinger,
// else a read of a record that does not exist (a 404 is an answer).
func (s *Server) storeReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if p, ok := s.Store.(callvault.Pinger); ok {
		return p.Ping(ctx)
	}
	_, err := s.Store.GetRecord(ctx, "callvault-readyz", "callvault-readyz")
	if callvault.ErrorCode(err) == callvault.ENOTFOUND {
		return nil
	}
	return err
}
