package mirror

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/callvault/callvault"
)

// subscriptionLife is how long the mirror's subscription on the source
// lasts: just under Graph's 4,230 minutes for callRecords.
const subscriptionLife = 4229 * time.Minute

// InboxURL is the notificationUrl of the mirror's subscription: the inbox
// of the serve that shares the mirror's store, with the tenant and the
// source it is for in the query (Graph keeps the query on every POST).
func (m *Mirror) InboxURL(inbox string) (string, error) {
	u, err := url.Parse(inbox)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("the notification URL %q is not absolute", inbox)
	}
	q := u.Query()
	q.Set("tenant", m.Tenant)
	q.Set("source", m.source())
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Subscribe makes sure the source notifies inbox of every created or
// updated record: it creates the subscription, or renews it once a third of
// its life is gone, or creates it again when the source lost it. The
// subscription's clientState is kept in the store first, so that serve's
// inbox can answer the source's validation request and check every
// notification.
func (m *Mirror) Subscribe(ctx context.Context, inbox string) error {
	m.init()
	notifyURL, err := m.InboxURL(inbox)
	if err != nil {
		return err
	}
	var st callvault.MirrorNotifyState
	if v, err := m.Store.MirrorState(ctx, m.Tenant, m.source(), callvault.MirrorNotifyStateName); err != nil {
		return err
	} else if v != nil {
		json.Unmarshal(v, &st)
	}
	now := m.now()
	if st.SubscriptionID != "" {
		if now.Before(st.Expires.Add(-subscriptionLife * 2 / 3)) {
			return nil // fresh enough
		}
		expires := now.Add(subscriptionLife).UTC().Truncate(time.Second)
		body, _ := json.Marshal(map[string]string{"expirationDateTime": expires.Format(time.RFC3339)})
		_, err := m.Client.Do(ctx, "PATCH", "subscriptions/"+url.PathEscape(st.SubscriptionID), body)
		if err == nil {
			st.Expires = expires
			m.Logger.Info("subscription on the source renewed", "subscription", st.SubscriptionID, "expires", expires)
			return m.saveNotify(ctx, st)
		}
		if !NotFound(err) {
			return fmt.Errorf("renew the subscription on the source: %w", err)
		}
		m.Logger.Warn("the source lost the mirror's subscription; creating it again", "subscription", st.SubscriptionID)
	}
	if st.ClientState == "" {
		var b [32]byte
		rand.Read(b[:])
		st.ClientState = base64.RawURLEncoding.EncodeToString(b[:])
	}
	st.SubscriptionID, st.Expires = "", time.Time{}
	if err := m.saveNotify(ctx, st); err != nil { // before the handshake, which the inbox answers from it
		return err
	}
	expires := now.Add(subscriptionLife).UTC().Truncate(time.Second)
	body, _ := json.Marshal(map[string]string{
		"changeType": "created,updated", "resource": "/communications/callRecords", "notificationUrl": notifyURL,
		"expirationDateTime": expires.Format(time.RFC3339), "clientState": st.ClientState,
	})
	answer, err := m.Client.Do(ctx, "POST", "subscriptions", body)
	if err != nil {
		return fmt.Errorf("subscribe on the source: %w", err)
	}
	var created struct {
		ID                 string    `json:"id"`
		ExpirationDateTime time.Time `json:"expirationDateTime"`
	}
	if err := json.Unmarshal(answer, &created); err != nil || created.ID == "" {
		return fmt.Errorf("subscribe on the source: the answer has no subscription id")
	}
	st.SubscriptionID, st.Expires = created.ID, created.ExpirationDateTime
	m.Logger.Info("subscribed to the source's notifications", "subscription", st.SubscriptionID, "expires", st.Expires, "inbox", redact(notifyURL))
	return m.saveNotify(ctx, st)
}

func (m *Mirror) saveNotify(ctx context.Context, st callvault.MirrorNotifyState) error {
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return m.Store.SetMirrorState(ctx, m.Tenant, m.source(), callvault.MirrorNotifyStateName, v)
}
