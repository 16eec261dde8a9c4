package graph_test

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callvault/callvault/graph"
)

// FuzzMirrorInbox posts whatever query, content type and body the fuzzer
// makes to the mirror inbox, which takes requests without a token from
// anyone who can reach the server, in process, and holds every answer to
// FuzzRequest's rules and to what the mirror relies on: the validation
// token is echoed only for the tenant and source a mirror subscribes for,
// as plain text, and a record is queued only from an item with the
// clientState, tenant and subscription the mirror stored.
//
// In the fuzzed strings, {tenant}, {source}, {state} and {sub} stand for
// the fixture's tenant A, the mirror's source, its clientState and its
// subscription id.
func FuzzMirrorInbox(f *testing.F) {
	fx := newFixture(f, nil)
	const source, state, sub = "https://graph.example/beta", "the-right-client-state", "sub-1"
	inbox := mirrorInbox(f, fx, source, sub, state)
	fill := strings.NewReplacer("{tenant}", tenantA, "{source}", url.QueryEscape(source), "{state}", state, "{sub}", sub).Replace

	item := func(sub, state, tenant, id string) string {
		return `{"subscriptionId":"` + sub + `","clientState":"` + state + `","changeType":"created","resource":"communications/callRecords/` + id +
			`","resourceData":{"@odata.type":"#Microsoft.Graph.callrecord","id":"` + id + `"},"tenantId":"` + tenant + `"}`
	}
	at := "tenant={tenant}&source={source}"
	for _, seed := range []struct{ method, query, contentType, body string }{
		{"POST", at, "application/json", `{"value":[` + item("{sub}", "{state}", "{tenant}", "rec-1") + `]}`},
		{"POST", at, "application/json", `{"value":[` + item("{sub}", "{state}", "{tenant}", "rec-2") + "," + item("{sub}", "forged", "{tenant}", "forged-1") + `]}`},
		{"POST", at, "application/json", `{"value":[{"subscriptionId":"{sub}","clientState":"{state}","tenantId":"{tenant}","lifecycleEvent":"reauthorizationRequired"}]}`},
		{"POST", at + "&validationToken=Validation%3A+hello", "text/plain", ""},
		{"POST", "tenant=0b6c2a54-6c3f-4a36-b2a8-3d1c9e6f1b11&source={source}&validationToken=x", "", ""},
		{"GET", at, "", ""},
		{"POST", at, "application/json", `{"value":`},
	} {
		f.Add(seed.method, seed.query, seed.contentType, seed.body)
	}
	f.Fuzz(func(t *testing.T, method, query, contentType, body string) {
		query, body = fill(query), fill(body)
		target := graph.MirrorInboxPath + "?" + query
		raw := method + " " + target + " HTTP/1.1\r\nHost: callvault.example\r\nContent-Type: " + contentType +
			"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
		rec := serveRaw(t, inbox, raw)
		if rec == nil {
			t.Skip() // net/http answers it before any handler
		}
		checkAnswer(t, target, rec)
		q, _ := url.ParseQuery(query)
		if rec.Code == 200 {
			token := q.Get("validationToken")
			if token == "" || q.Get("tenant") != tenantA || q.Get("source") != source || rec.Body.String() != token ||
				rec.Header().Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
				t.Fatalf("%s: 200 %q %q", target, rec.Header(), rec.Body)
			}
		}
		// What was queued came from an item with the right clientState,
		// tenant and subscription.
		items, err := fx.db.ClaimMirror(t.Context(), tenantA, source, "fuzz", now.Add(time.Hour), time.Hour, 100000)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			return
		}
		if rec.Code != 202 {
			t.Fatalf("%s: %d, and %d records queued", target, rec.Code, len(items))
		}
		var n struct {
			Value []struct {
				SubscriptionID, ClientState, TenantID, LifecycleEvent string
				ResourceData                                          struct{ ID string }
			}
		}
		if err := json.Unmarshal([]byte(body), &n); err != nil {
			t.Fatalf("queued %d records from a body that is not a notification: %v", len(items), err)
		}
		rightful := map[string]bool{}
		for _, it := range n.Value {
			if it.ClientState == state && strings.EqualFold(it.TenantID, tenantA) && it.SubscriptionID == sub && it.LifecycleEvent == "" {
				rightful[it.ResourceData.ID] = true
			}
		}
		for _, it := range items {
			if !rightful[it.RecordID] {
				t.Fatalf("queued %q, which no item with the mirror's clientState, tenant and subscription named:\n%s", it.RecordID, body)
			}
		}
	})
}
