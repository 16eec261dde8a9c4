package graph

import (
	"net/http"
	"strconv"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/odata"
)

// DeliveriesPath is where a tenant's apps read the log of notification
// deliveries. It is callvault's own diagnostics endpoint, not Graph's:
// Graph shows no such log.
const DeliveriesPath = "/diagnostics/v1/notificationDeliveries"

// maxDeliveries is the most attempts one answer lists.
const maxDeliveries = 1000

// DeliveriesHandler returns the handler of GET DeliveriesPath: the tenant's
// most recent delivery attempts (notifications, lifecycle notifications),
// newest first, ?subscriptionId= for one subscription's, ?top= for at most
// that many (100 by default, 1000 at most). The token is the Graph API's:
// app-only with CallRecords.Read.All; a tenant sees only its own attempts.
func (s *Server) DeliveriesHandler(log callvault.Outbox) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.serveDeliveries(w, r, log); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) serveDeliveries(w http.ResponseWriter, r *http.Request, log callvault.Outbox) error {
	tok, err := auth.BearerToken(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	p, err := s.Auth.Verify(tok)
	if err != nil {
		return err
	}
	if err := p.Require(readRoles...); err != nil {
		return err
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return callvault.Errorf(methodNotAllowed, "The %s method is not allowed on %s: it is a read-only log.", r.Method, DeliveriesPath)
	}
	q := r.URL.Query()
	top := 100
	if v := q.Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return callvault.Errorf(callvault.EINVALID, "top must be a whole number of 1 or more; '%s' is not.", bounded(v))
		}
		top = min(n, maxDeliveries)
	}
	attempts, err := log.ListDeliveryAttempts(r.Context(), p.Tenant, q.Get("subscriptionId"), top)
	if err != nil {
		return err
	}
	b := []byte(`{"value":[`)
	for i, a := range attempts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAttempt(b, a)
	}
	b = append(b, "]}"...)
	s.sendStatus(w, r, http.StatusOK, b, odata.Preferences{})
	return nil
}

// appendAttempt writes one delivery attempt.
func appendAttempt(b []byte, a *callvault.DeliveryAttempt) []byte {
	b = append(b, `{"time":`...)
	b = odata.AppendString(b, a.Time.UTC().Format(time.RFC3339Nano))
	b = append(b, `,"subscriptionId":`...)
	b = odata.AppendString(b, a.SubscriptionID)
	b = append(b, `,"kind":`...)
	b = odata.AppendString(b, a.Kind)
	b = append(b, `,"url":`...)
	b = odata.AppendString(b, a.URL)
	b = append(b, `,"notifications":`...)
	b = strconv.AppendInt(b, int64(a.Notifications), 10)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(a.Attempt), 10)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(a.Status), 10)
	b = append(b, `,"latencyMs":`...)
	b = strconv.AppendFloat(b, float64(a.Latency.Microseconds())/1000, 'f', -1, 64)
	b = append(b, `,"outcome":`...)
	b = odata.AppendString(b, a.Outcome)
	b = append(b, `,"error":`...)
	if a.Error == "" {
		b = append(b, "null"...)
	} else {
		b = odata.AppendString(b, bounded(a.Error))
	}
	return append(b, '}')
}
