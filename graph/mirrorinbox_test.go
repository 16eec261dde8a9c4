package graph_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/graph"
)

func TestTheMirrorInboxTakesOnlyTheSourcesNotifications(t *testing.T) {
	f := newFixture(t, nil)
	const source = "https://graph.example/beta"
	inbox := httptest.NewServer(mirrorInbox(t, f, source, "sub-1", "right"))
	defer inbox.Close()
	ctx := context.Background()
	at := func(tenant string) string {
		return inbox.URL + "?" + url.Values{"tenant": {tenant}, "source": {source}}.Encode()
	}
	post := func(u, body string) (int, string) {
		resp, err := http.Post(u, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	item := func(sub, state, tenant, id string) string {
		return `{"subscriptionId":"` + sub + `","clientState":"` + state + `","changeType":"created","resource":"communications/callRecords/` + id +
			`","resourceData":{"@odata.type":"#Microsoft.Graph.callrecord","@odata.id":"communications/callRecords/` + id + `","id":"` + id + `"},"tenantId":"` + tenant + `"}`
	}

	// The handshake is answered for a tenant and source a mirror subscribes for, only.
	if status, body := post(at(tenantA)+"&validationToken=Validation%3a+hello", ""); status != 200 || body != "Validation: hello" {
		t.Errorf("handshake: %d %q", status, body)
	}
	resp, err := http.Post(at(tenantA)+"&validationToken=%3Cb%3Ex", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("the echo's headers: Content-Type %q, X-Content-Type-Options %q; want text/plain, never sniffed", resp.Header.Get("Content-Type"), got)
	}
	if status, _ := post(at(tenantB)+"&validationToken=x", ""); status != 403 {
		t.Errorf("handshake for a tenant no mirror subscribes for: %d", status)
	}
	body := `{"value":[` + strings.Join([]string{
		item("sub-1", "right", tenantA, "good"),
		item("sub-1", "wrong", tenantA, "forged-state"),
		item("sub-2", "right", tenantA, "other-subscription"),
		item("sub-1", "right", tenantB, "other-tenant"),
	}, ",") + `]}`
	if status, _ := post(at(tenantA), body); status != 202 {
		t.Fatalf("notifications: %d", status)
	}
	items, err := f.db.ClaimMirror(ctx, tenantA, source, "me", now.Add(time.Second), time.Minute, 10)
	if err != nil || len(items) != 1 || items[0].RecordID != "good" {
		t.Errorf("queued %+v, %v; want only the good one", items, err)
	}
	if status, _ := post(at(tenantA), `{"value":`); status != 400 {
		t.Errorf("a broken body: %d", status)
	}
}

// mirrorInbox returns the inbox of a server on f's store, where a mirror of
// tenant A on source is subscribed as sub with clientState state.
func mirrorInbox(tb testing.TB, f *fixture, source, sub, state string) http.Handler {
	tb.Helper()
	srv := &graph.Server{Now: func() time.Time { return now }}
	srv.Handler() // initialises the logger
	st, _ := json.Marshal(callvault.MirrorNotifyState{SubscriptionID: sub, ClientState: state, Expires: now.Add(time.Hour)})
	if err := f.db.SetMirrorState(context.Background(), tenantA, source, callvault.MirrorNotifyStateName, st); err != nil {
		tb.Fatal(err)
	}
	return srv.MirrorInboxHandler(f.db)
}
