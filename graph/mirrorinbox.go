package graph

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/callvault/callvault"
)

// MirrorInboxPath is where serve takes the change notifications of a
// mirror's subscription on its source (callvault mirror --notify-url): it
// queues the notified records for the mirror sharing this server's store.
// It is callvault's own endpoint.
const MirrorInboxPath = "/mirror/v1/notifications"

// maxInboxBody bounds a notification POST: Graph batches at most a few
// hundred small items.
const maxInboxBody = 1 << 20

// MirrorInboxHandler returns the handler of POST MirrorInboxPath?tenant=…&source=….
// The source calls it without a token, as Graph calls every webhook: a
// notification is taken only when its clientState is the one the mirror
// stored for that tenant and source (compared in constant time), and its
// tenantId and subscriptionId match; the others are logged and dropped. It
// answers Graph's validation request by echoing the token, but only for a
// tenant and source a mirror is subscribing for, and 202 to notifications,
// as Graph asks of endpoints that process later.
func (s *Server) MirrorInboxHandler(store callvault.MirrorStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.serveInbox(w, r, store); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) serveInbox(w http.ResponseWriter, r *http.Request, store callvault.MirrorStore) error {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return callvault.Errorf(methodNotAllowed, "The %s method is not allowed on %s: sources POST notifications to it.", r.Method, MirrorInboxPath)
	}
	q := r.URL.Query()
	tenant, source := q.Get("tenant"), q.Get("source")
	if tenant == "" || source == "" {
		return callvault.Errorf(callvault.EINVALID, "The inbox URL needs the tenant and source query parameters that callvault mirror puts in it.")
	}
	v, err := store.MirrorState(r.Context(), tenant, source, callvault.MirrorNotifyStateName)
	if err != nil {
		return err
	}
	var st callvault.MirrorNotifyState
	if v == nil || json.Unmarshal(v, &st) != nil || st.ClientState == "" {
		return callvault.Errorf(callvault.EFORBIDDEN, "No mirror subscribes for this tenant and source.")
	}
	if token := q.Get("validationToken"); token != "" {
		// The echo is whatever the URL held: text, never sniffed as HTML
		// by a browser that a cross-site form sent here.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, token)
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxInboxBody+1))
	if err != nil || len(body) > maxInboxBody {
		return callvault.Errorf(payloadTooLarge, "A notification body is at most %d bytes.", maxInboxBody)
	}
	var n struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
			ClientState    string `json:"clientState"`
			TenantID       string `json:"tenantId"`
			LifecycleEvent string `json:"lifecycleEvent"`
			ResourceData   struct {
				ID string `json:"id"`
			} `json:"resourceData"`
		} `json:"value"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return callvault.Errorf(callvault.EINVALID, "The body is not a change notification collection: %v", err)
	}
	var ids []string
	forged := 0
	for _, item := range n.Value {
		if subtle.ConstantTimeCompare([]byte(item.ClientState), []byte(st.ClientState)) != 1 ||
			!strings.EqualFold(item.TenantID, tenant) ||
			(st.SubscriptionID != "" && item.SubscriptionID != st.SubscriptionID) {
			forged++
			continue
		}
		if item.LifecycleEvent == "" && item.ResourceData.ID != "" {
			ids = append(ids, item.ResourceData.ID)
		}
	}
	if forged > 0 {
		s.Logger.WarnContext(r.Context(), "mirror inbox: notifications dropped: wrong clientState, tenant or subscription",
			"request_id", requestIDs(r.Context()).request, "tenant", tenant, "dropped", forged)
	}
	if err := store.EnqueueMirror(r.Context(), tenant, source, ids, s.now()); err != nil {
		return err
	}
	if len(ids) > 0 {
		s.Logger.InfoContext(r.Context(), "mirror inbox: records queued", "request_id", requestIDs(r.Context()).request,
			"tenant", tenant, "records", len(ids))
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}
