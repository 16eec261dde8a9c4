package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	nethttplibrary "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/subscriptions"

	"github.com/callvault/callvault/synth"
)

// receiver is a webhook on loopback: it answers Graph's validation
// handshake and keeps the body of every notification POSTed to it.
type receiver struct {
	*httptest.Server
	mu          sync.Mutex
	validations int
	bodies      [][]byte
	types       []string
	arrived     chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{arrived: make(chan struct{}, 64)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if r.URL.Query().Has("validationToken") {
			rc.mu.Lock()
			rc.validations++
			rc.mu.Unlock()
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, r.URL.Query().Get("validationToken"))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, body)
		rc.types = append(rc.types, r.Header.Get("Content-Type"))
		rc.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		select {
		case rc.arrived <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(rc.Close)
	if !strings.HasPrefix(rc.URL, "http://127.0.0.1:") {
		t.Fatalf("the receiver listens at %s, not on 127.0.0.1", rc.URL)
	}
	return rc
}

// next waits at most d for the n-th notification body (counted from 1).
func (rc *receiver) next(t *testing.T, n int, d time.Duration) ([]byte, string) {
	t.Helper()
	deadline := time.After(d)
	for {
		rc.mu.Lock()
		if len(rc.bodies) >= n {
			body, ct := rc.bodies[n-1], rc.types[n-1]
			rc.mu.Unlock()
			return body, ct
		}
		rc.mu.Unlock()
		select {
		case <-rc.arrived:
		case <-deadline:
			t.Fatalf("notification %d did not arrive within %v", n, d)
		}
	}
}

func (rc *receiver) count() (validations, notifications int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.validations, len(rc.bodies)
}

// withVersion returns the record with its "version" set to v.
func withVersion(t *testing.T, record []byte, v int64) []byte {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(record, &fields); err != nil {
		t.Fatal(err)
	}
	fields["version"], _ = json.Marshal(v)
	b, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTheSDKSubscribesAndReceivesCallRecordNotifications(t *testing.T) {
	const id = "c0ffee00-0000-4000-8000-0000000005b5"
	const clientState = "conformance-secret"
	rc := newReceiver(t)
	s := &server{data: t.TempDir()}
	s.serve(t, "--allow-http-webhooks", "--notify-retry", "1s")
	client, _ := s.client(t, s.token(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Create. The SDK writes times to the second (kiota's JSON writer uses
	// time.RFC3339), so whole seconds must come back exactly, in the
	// subscription and in the notification.
	expiry := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	body := models.NewSubscription()
	body.SetChangeType(ptr("created,updated"))
	body.SetResource(ptr("/communications/callRecords"))
	body.SetNotificationUrl(ptr(rc.URL))
	body.SetExpirationDateTime(&expiry)
	body.SetClientState(ptr(clientState))
	sub, err := client.Subscriptions().Post(ctx, body, nil)
	if refusedGzip(t, "POST /subscriptions", err) {
		sub, err = client.Subscriptions().Post(ctx, body, &subscriptions.SubscriptionsRequestBuilderPostRequestConfiguration{Options: uncompressed()})
	}
	if err != nil {
		t.Fatalf("create: %v", describe(err))
	}
	subID := deref(sub.GetId())
	if sub.GetId() == nil || subID == "" {
		t.Fatal("the created subscription has no id")
	}
	checkSubscription(t, "create", sub, subID, rc.URL, expiry)
	if v, _ := rc.count(); v != 1 {
		t.Errorf("creating made %d validation requests, want 1", v)
	}

	// List and get.
	list, err := client.Subscriptions().Get(ctx, nil)
	if err != nil {
		t.Fatalf("list: %v", describe(err))
	}
	found := 0
	for _, item := range list.GetValue() {
		if deref(item.GetId()) == subID {
			found++
			checkSubscription(t, "list", item, subID, rc.URL, expiry)
		}
	}
	if found != 1 {
		t.Errorf("the list holds the subscription %d times, want once (%d subscriptions)", found, len(list.GetValue()))
	}
	one, err := client.Subscriptions().BySubscriptionId(subID).Get(ctx, nil)
	if err != nil {
		t.Fatalf("get: %v", describe(err))
	}
	checkSubscription(t, "get", one, subID, rc.URL, expiry)

	// Renew.
	renewed := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	patch := models.NewSubscription()
	patch.SetExpirationDateTime(&renewed)
	after, err := client.Subscriptions().BySubscriptionId(subID).Patch(ctx, patch, nil)
	if refusedGzip(t, "PATCH /subscriptions/{id}", err) {
		after, err = client.Subscriptions().BySubscriptionId(subID).Patch(ctx, patch, &subscriptions.SubscriptionItemRequestBuilderPatchRequestConfiguration{Options: uncompressed()})
	}
	if err != nil {
		t.Fatalf("renew: %v", describe(err))
	}
	checkSubscription(t, "renew", after, subID, rc.URL, renewed)
	if one, err = client.Subscriptions().BySubscriptionId(subID).Get(ctx, nil); err != nil {
		t.Fatalf("get after renewing: %v", describe(err))
	}
	checkSubscription(t, "get after renewing", one, subID, rc.URL, renewed)
	if v, _ := rc.count(); v != 1 {
		t.Errorf("renewing without a new URL made a validation request (%d in all)", v)
	}

	// A new record: created.
	record := synth.RecordWithSessions(tenant, 9, id, 2)
	var meta struct {
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal(record, &meta); err != nil {
		t.Fatal(err)
	}
	s.importFile(t, string(record)+"\n")
	got, ct := rc.next(t, 1, 15*time.Second)
	if !strings.HasPrefix(ct, "application/json") {
		t.Errorf("the notification's Content-Type is %q, want application/json", ct)
	}
	checkNotification(t, got, subID, id, models.CREATED_CHANGETYPE, renewed)

	// A higher version: updated.
	s.importFile(t, string(withVersion(t, record, meta.Version+1))+"\n")
	got, _ = rc.next(t, 2, 15*time.Second)
	checkNotification(t, got, subID, id, models.UPDATED_CHANGETYPE, renewed)

	// The same version again: nothing.
	s.importFile(t, string(withVersion(t, record, meta.Version+1))+"\n")
	time.Sleep(2 * time.Second)
	if _, n := rc.count(); n != 2 {
		t.Errorf("re-importing the same version brought a notification: %d in all, want 2", n)
	}

	// Delete.
	if err := client.Subscriptions().BySubscriptionId(subID).Delete(ctx, nil); err != nil {
		t.Fatalf("delete: %v", describe(err))
	}
	_, err = client.Subscriptions().BySubscriptionId(subID).Get(ctx, nil)
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		t.Fatalf("get after delete: got %T %v, want an *odataerrors.ODataError", err, err)
	}
	if oe.ResponseStatusCode != 404 || oe.GetErrorEscaped() == nil || deref(oe.GetErrorEscaped().GetCode()) != "ResourceNotFound" {
		t.Errorf("get after delete: got %s, want HTTP 404 ResourceNotFound", describe(err))
	}
}

// refusedGzip reports, as a failure, the server refusing the body the SDK
// sends by default: kiota-http-go's CompressionHandler gzips every request
// body (Content-Encoding: gzip), which Graph accepts, and falls back to a
// plain body only on 415. It says whether to retry uncompressed, so that
// the rest of the conversation is still checked.
func refusedGzip(t *testing.T, op string, err error) bool {
	t.Helper()
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) || oe.ResponseStatusCode != http.StatusBadRequest {
		return false
	}
	t.Errorf("%s: the server refused the SDK's gzip-compressed body (Content-Encoding: gzip), which Graph accepts: %s; retrying uncompressed", op, describe(err))
	return true
}

// uncompressed turns off the SDK's request body compression.
func uncompressed() []abs.RequestOption {
	return []abs.RequestOption{nethttplibrary.NewCompressionOptionsReference(false)}
}

// checkSubscription checks every property the SDK read of a subscription.
// The list writes clientState as null, as Graph's list page says.
func checkSubscription(t *testing.T, op string, sub models.Subscriptionable, id, url string, expiry time.Time) {
	t.Helper()
	clientState := "conformance-secret"
	if op == "list" {
		clientState = deref(nil)
	}
	for _, c := range []struct{ name, got, want string }{
		{"id", deref(sub.GetId()), id},
		{"resource", deref(sub.GetResource()), "/communications/callRecords"},
		{"changeType", deref(sub.GetChangeType()), "created,updated"},
		{"notificationUrl", deref(sub.GetNotificationUrl()), url},
		{"clientState", deref(sub.GetClientState()), clientState},
		{"latestSupportedTlsVersion", deref(sub.GetLatestSupportedTlsVersion()), "v1_2"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s is %q, want %q", op, c.name, c.got, c.want)
		}
	}
	if deref(sub.GetApplicationId()) == "" {
		t.Errorf("%s: applicationId is empty", op)
	}
	if deref(sub.GetCreatorId()) == "" {
		t.Errorf("%s: creatorId is empty", op)
	}
	if e := sub.GetExpirationDateTime(); e == nil || !e.Equal(expiry) {
		t.Errorf("%s: expirationDateTime is %v, want %v", op, e, expiry)
	}
	for name, v := range map[string]*string{
		"lifecycleNotificationUrl": sub.GetLifecycleNotificationUrl(),
		"notificationQueryOptions": sub.GetNotificationQueryOptions(),
		"encryptionCertificate":    sub.GetEncryptionCertificate(),
		"encryptionCertificateId":  sub.GetEncryptionCertificateId(),
		"notificationUrlAppId":     sub.GetNotificationUrlAppId(),
	} {
		if v != nil {
			t.Errorf("%s: %s is %q, want null: it was not set", op, name, *v)
		}
	}
	if b := sub.GetIncludeResourceData(); b != nil && *b {
		t.Errorf("%s: includeResourceData is true", op)
	}
}

// checkNotification parses a notification body with the SDK's model and
// checks every property of its one item.
func checkNotification(t *testing.T, body []byte, subID, recordID string, change models.ChangeType, expiry time.Time) {
	t.Helper()
	node, err := jsonserialization.NewJsonParseNode(body)
	if err != nil {
		t.Fatalf("the notification is not JSON the SDK parses: %v\n%s", err, body)
	}
	v, err := node.GetObjectValue(models.CreateChangeNotificationCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatalf("the SDK cannot parse the notification: %v\n%s", err, body)
	}
	coll := v.(models.ChangeNotificationCollectionResponseable)
	if len(coll.GetAdditionalData()) != 0 || coll.GetOdataNextLink() != nil || coll.GetOdataCount() != nil {
		t.Errorf("the notification body has more than its value: %v\n%s", coll.GetAdditionalData(), body)
	}
	items := coll.GetValue()
	if len(items) != 1 {
		t.Fatalf("the notification holds %d items, want 1\n%s", len(items), body)
	}
	n := items[0]
	resource := "communications/callRecords/" + recordID
	if u := n.GetSubscriptionId(); u == nil || u.String() != subID {
		t.Errorf("subscriptionId is %v, want %s", u, subID)
	}
	if got := deref(n.GetClientState()); got != "conformance-secret" {
		t.Errorf("clientState is %q, want conformance-secret", got)
	}
	if c := n.GetChangeType(); c == nil || *c != change {
		t.Errorf("changeType is %v, want %v\n%s", c, change, body)
	}
	if got := deref(n.GetResource()); got != resource {
		t.Errorf("resource is %q, want %q", got, resource)
	}
	if e := n.GetSubscriptionExpirationDateTime(); e == nil || !e.Equal(expiry) {
		t.Errorf("subscriptionExpirationDateTime is %v, want %v", e, expiry)
	}
	if u := n.GetTenantId(); u == nil || u.String() != tenant {
		t.Errorf("tenantId is %v, want %s", u, tenant)
	}
	if n.GetId() != nil || n.GetLifecycleEvent() != nil || n.GetEncryptedContent() != nil || n.GetOdataType() != nil {
		t.Errorf("the item has id, lifecycleEvent, encryptedContent or @odata.type, which a callRecords notification lacks\n%s", body)
	}
	if len(n.GetAdditionalData()) != 0 {
		t.Errorf("the item has properties the SDK does not know: %v", n.GetAdditionalData())
	}
	rd := n.GetResourceData()
	if rd == nil {
		t.Fatalf("the item has no resourceData\n%s", body)
	}
	if got := deref(rd.GetOdataType()); got != "#Microsoft.Graph.callrecord" {
		t.Errorf("resourceData @odata.type is %q, want #Microsoft.Graph.callrecord", got)
	}
	extra := rd.GetAdditionalData()
	for name, want := range map[string]string{"@odata.id": resource, "id": recordID} {
		if got, ok := extra[name].(*string); !ok || got == nil || *got != want {
			t.Errorf("resourceData %s is %v, want %q", name, extra[name], want)
		}
	}
	if len(extra) != 2 {
		t.Errorf("resourceData holds %d properties besides @odata.type, want @odata.id and id: %v", len(extra), extra)
	}
}

func ptr[T any](v T) *T { return &v }
