package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/notify"
	"github.com/callvault/callvault/outbound"
	"github.com/callvault/callvault/sqlite"
)

const tenant = "dc368399-474c-4d40-900c-6265431fd81f"

// hook is a loopback webhook that answers with the statuses of answers in
// turn (then 202), after delay, and keeps every body it was sent.
type hook struct {
	*httptest.Server
	mu      sync.Mutex
	answers []int
	delay   time.Duration
	bodies  [][]byte
	got     chan struct{}
}

func newHook(t *testing.T, answers ...int) *hook {
	h := &hook{answers: answers, got: make(chan struct{}, 1000)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, body)
		status := http.StatusAccepted
		if len(h.answers) > 0 {
			status, h.answers = h.answers[0], h.answers[1:]
		}
		delay := h.delay
		h.mu.Unlock()
		time.Sleep(delay)
		w.WriteHeader(status)
		h.got <- struct{}{}
	}))
	t.Cleanup(h.Close)
	return h
}

// notifications returns every item POSTed so far, in order.
func (h *hook) notifications(t *testing.T) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var all []map[string]any
	for _, b := range h.bodies {
		var body struct{ Value []map[string]any }
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("a body is not JSON: %v: %s", err, b)
		}
		all = append(all, body.Value...)
	}
	return all
}

// wait waits for n POSTs in all, at most 10 s.
func (h *hook) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		got := len(h.bodies)
		h.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-h.got:
		case <-deadline:
			t.Fatalf("the hook got %d POSTs, want %d", got, n)
		}
	}
}

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func subscribe(t *testing.T, db *sqlite.DB, id, url string, changes callvault.ChangeTypes) *callvault.Subscription {
	t.Helper()
	s := &callvault.Subscription{
		ID: id, Tenant: tenant, ApplicationID: "app", Resource: "/communications/callRecords",
		ChangeType: changes.String(), ChangeTypes: changes, NotificationURL: url, ClientState: "secret",
		ExpirationDateTime: time.Now().Add(time.Hour).UTC().Truncate(time.Second),
	}
	if err := db.CreateSubscription(context.Background(), s, callvault.SubscriptionQuota, time.Now()); err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, db *sqlite.DB, id string, version int64) {
	t.Helper()
	r := &callvault.Record{Tenant: tenant, ID: id, Version: version, Body: []byte(`{}`),
		StartDateTime: time.Now(), EndDateTime: time.Now()}
	if _, err := db.PutRecord(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

// run starts a dispatcher with fast retries; it stops with the test.
func run(t *testing.T, db *sqlite.DB, o notify.Options) *notify.Dispatcher {
	t.Helper()
	if o.RetryMin == 0 {
		o.RetryMin = 50 * time.Millisecond
	}
	o.Poll = 20 * time.Millisecond
	d := &notify.Dispatcher{Store: db, Client: outbound.Policy{AllowHTTP: true}.Client(3 * time.Second), Options: o}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func TestCreatedThenUpdatedThenNothing(t *testing.T) {
	db := openStore(t)
	h := newHook(t)
	sub := subscribe(t, db, "sub-1", h.URL+"/hook?x=1", callvault.ChangeCreated|callvault.ChangeUpdated)
	subscribe(t, db, "sub-created-only", h.URL+"/other", callvault.ChangeCreated)
	d := run(t, db, notify.Options{})

	put(t, db, "rec-1", 1)
	h.wait(t, 2) // one POST per endpoint
	put(t, db, "rec-1", 2)
	h.wait(t, 3)
	put(t, db, "rec-1", 2) // the same version again: nothing
	put(t, db, "rec-1", 1) // a stale one: nothing
	time.Sleep(300 * time.Millisecond)

	var changes []string
	for _, n := range h.notifications(t) {
		changes = append(changes, n["subscriptionId"].(string)+":"+n["changeType"].(string))
		if n["clientState"] != "secret" || n["tenantId"] != tenant || n["resource"] != "communications/callRecords/rec-1" {
			t.Errorf("notification %v", n)
		}
	}
	want := map[string]bool{"sub-1:created": true, "sub-created-only:created": true, "sub-1:updated": true}
	if len(changes) != 3 {
		t.Fatalf("notifications %v, want %v", changes, want)
	}
	for _, c := range changes {
		if !want[c] {
			t.Errorf("unexpected notification %s (all: %v)", c, changes)
		}
	}
	if d.Counters.Delivered.Load() != 3 {
		t.Errorf("delivered counter %d, want 3", d.Counters.Delivered.Load())
	}
	attempts, err := db.ListDeliveryAttempts(context.Background(), tenant, sub.ID, 10)
	if err != nil || len(attempts) != 2 || attempts[0].Outcome != "delivered" || attempts[0].Status != 202 || attempts[0].URL != h.URL+"/hook" {
		t.Errorf("attempts of sub-1: %+v (%v)", attempts, err)
	}
}

func TestPayloadIsGraphs(t *testing.T) {
	n := &callvault.Notification{
		Subscription: callvault.Subscription{ID: "{Subscription id}", Tenant: "{Organization/Tenant id}", ClientState: "{Secret client state}",
			ExpirationDateTime: time.Date(2023, 2, 28, 0, 0, 0, 0, time.UTC)},
		RecordID: "{Call id}", Change: callvault.ChangeCreated,
	}
	got := notify.AppendNotifications(nil, []*callvault.Notification{n})
	// The documented example (shared/graph/examples), compacted.
	want := `{"value":[{"subscriptionId":"{Subscription id}","clientState":"{Secret client state}","changeType":"created","resource":"communications/callRecords/{Call id}","subscriptionExpirationDateTime":"2023-02-28T00:00:00.000+00:00","resourceData":{"@odata.type":"#Microsoft.Graph.callrecord","@odata.id":"communications/callRecords/{Call id}","id":"{Call id}"},"tenantId":"{Organization/Tenant id}"}]}`
	if string(got) != want {
		t.Errorf("payload\n got %s\nwant %s", got, want)
	}
	example, err := os.ReadFile("../../shared/graph/examples/callrecords-changenotification-payload.v1.0.json")
	if err == nil { // present beside the repository in development and CI
		var a, b any
		json.Unmarshal(example, &a)
		json.Unmarshal(got, &b)
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("payload differs from Graph's example:\n got %s\nwant %s", jb, ja)
		}
	}
	// An imported id that is not a GUID is escaped where it would split the
	// path; the id itself is written as it is.
	n.RecordID = "a/b?c#d%e"
	if got := string(notify.AppendNotifications(nil, []*callvault.Notification{n})); !strings.Contains(got, `"resource":"communications/callRecords/a%2Fb%3Fc%23d%25e"`) ||
		!strings.Contains(got, `"@odata.id":"communications/callRecords/a%2Fb%3Fc%23d%25e","id":"a/b?c#d%e"`) {
		t.Errorf("a non-GUID id: %s", got)
	}
	lc := notify.AppendLifecycle(nil, []*callvault.Subscription{&n.Subscription})
	wantLC := `{"value":[{"subscriptionId":"{Subscription id}","subscriptionExpirationDateTime":"2023-02-28T00:00:00.000+00:00","tenantId":"{Organization/Tenant id}","clientState":"{Secret client state}","lifecycleEvent":"reauthorizationRequired"}]}`
	if string(lc) != wantLC {
		t.Errorf("lifecycle payload\n got %s\nwant %s", lc, wantLC)
	}
}

func TestAFailedDeliveryIsRetried(t *testing.T) {
	db := openStore(t)
	h := newHook(t, 500, 503)
	sub := subscribe(t, db, "sub-1", h.URL, callvault.ChangeCreated)
	d := run(t, db, notify.Options{})
	put(t, db, "rec-1", 1)
	h.wait(t, 3)
	time.Sleep(100 * time.Millisecond)
	if n := len(h.notifications(t)); n != 3 {
		t.Fatalf("%d POSTs, want 3 (500, 503, then 202)", n)
	}
	attempts, _ := db.ListDeliveryAttempts(context.Background(), tenant, sub.ID, 10)
	var got []string
	for _, a := range attempts {
		got = append(got, a.Outcome)
	}
	if len(attempts) != 3 || attempts[0].Attempt != 3 || attempts[0].Outcome != "delivered" || attempts[2].Status != 500 || attempts[2].Outcome != "retry" {
		t.Errorf("attempts (newest first): %v %+v", got, attempts)
	}
	if d.Counters.Retried.Load() != 2 || d.Counters.Delivered.Load() != 1 {
		t.Errorf("counters: retried %d, delivered %d", d.Counters.Retried.Load(), d.Counters.Delivered.Load())
	}
}

// TestAFailedBatchIsRetriedAsABatch: the notifications of a POST that
// failed come back together, not each at its own moment.
func TestAFailedBatchIsRetriedAsABatch(t *testing.T) {
	db := openStore(t)
	h := newHook(t, 500, 500)
	subscribe(t, db, "sub-1", h.URL, callvault.ChangeCreated)
	records := make([]*callvault.Record, 20)
	for i := range records {
		records[i] = &callvault.Record{Tenant: tenant, ID: fmt.Sprintf("rec-%d", i), Version: 1, Body: []byte(`{}`)}
	}
	if _, _, err := db.PutRecords(context.Background(), records); err != nil {
		t.Fatal(err)
	}
	run(t, db, notify.Options{BatchSize: 100, Workers: 1})
	h.wait(t, 3)
	time.Sleep(300 * time.Millisecond) // any stragglers would come within the backoff's spread
	h.mu.Lock()
	posts := len(h.bodies)
	h.mu.Unlock()
	if n := len(h.notifications(t)); posts != 3 || n != 60 {
		t.Errorf("%d POSTs with %d notifications, want 3 POSTs of 20 (500, 500, then 202)", posts, n)
	}
}

func TestANotificationIsDroppedAfterMaxAge(t *testing.T) {
	db := openStore(t)
	h := newHook(t, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500)
	subscribe(t, db, "sub-1", h.URL, callvault.ChangeCreated)
	d := run(t, db, notify.Options{MaxAge: 200 * time.Millisecond, RetryMin: 40 * time.Millisecond, RetryMax: 40 * time.Millisecond})
	put(t, db, "rec-1", 1)
	deadline := time.Now().Add(5 * time.Second)
	for d.Counters.Dropped.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if d.Counters.Dropped.Load() != 1 {
		t.Fatalf("dropped %d, want 1", d.Counters.Dropped.Load())
	}
	posts := len(h.notifications(t))
	time.Sleep(200 * time.Millisecond)
	if len(h.notifications(t)) != posts {
		t.Errorf("a dropped notification was POSTed again")
	}
}

func TestManyNotificationsComeInBatches(t *testing.T) {
	db := openStore(t)
	h := newHook(t)
	subscribe(t, db, "sub-1", h.URL, callvault.ChangeCreated)
	records := make([]*callvault.Record, 250)
	for i := range records {
		records[i] = &callvault.Record{Tenant: tenant, ID: "rec-" + string(rune('a'+i%26)) + time.Duration(i).String(), Version: 1, Body: []byte(`{}`)}
	}
	if _, _, err := db.PutRecords(context.Background(), records); err != nil {
		t.Fatal(err)
	}
	run(t, db, notify.Options{BatchSize: 100})
	h.wait(t, 3)
	time.Sleep(100 * time.Millisecond)
	h.mu.Lock()
	posts := len(h.bodies)
	h.mu.Unlock()
	if n := len(h.notifications(t)); n != 250 || posts != 3 {
		t.Errorf("%d notifications in %d POSTs, want 250 in 3", n, posts)
	}
}

func TestADelayHoldsNotificationsBack(t *testing.T) {
	db := openStore(t)
	h := newHook(t)
	subscribe(t, db, "sub-1", h.URL, callvault.ChangeCreated)
	delay, err := notify.ParseDelay("400ms")
	if err != nil {
		t.Fatal(err)
	}
	run(t, db, notify.Options{Delay: delay})
	start := time.Now()
	put(t, db, "rec-1", 1)
	h.wait(t, 1)
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Errorf("delivered after %v, before the 400ms delay", took)
	}
}

func TestParseDelay(t *testing.T) {
	n := &callvault.Notification{RecordID: "r", Created: time.Unix(0, 0)}
	for _, c := range []struct {
		in       string
		lo, hi   time.Duration
		bad, nil bool
	}{
		{in: "0", nil: true}, {in: "", nil: true}, {in: "0s", nil: true},
		{in: "30s", lo: 30 * time.Second, hi: 30 * time.Second},
		{in: "10s-2m", lo: 10 * time.Second, hi: 2 * time.Minute},
		{in: "graph", lo: 0, hi: 150 * time.Minute},
		{in: "2m-10s", bad: true}, {in: "-1s", bad: true}, {in: "soon", bad: true}, {in: "1s-x", bad: true},
	} {
		d, err := notify.ParseDelay(c.in)
		switch {
		case c.bad:
			if err == nil {
				t.Errorf("%q: no error", c.in)
			}
		case err != nil:
			t.Errorf("%q: %v", c.in, err)
		case c.nil:
			if d != nil {
				t.Errorf("%q: a delay, want none", c.in)
			}
		default:
			if got := d(n); got < c.lo || got > c.hi {
				t.Errorf("%q: %v, want within [%v, %v]", c.in, got, c.lo, c.hi)
			}
		}
	}
	// Graph's distribution: 30 minutes on average, never past 150.
	d, _ := notify.ParseDelay("graph")
	var sum time.Duration
	const samples = 20000
	for i := range samples {
		x := d(&callvault.Notification{RecordID: time.Duration(i).String()})
		if x > 150*time.Minute {
			t.Fatalf("a delay of %v", x)
		}
		sum += x
	}
	if mean := sum / samples; mean < 28*time.Minute || mean > 32*time.Minute {
		t.Errorf("mean delay %v, want about 30m", mean)
	}
}

func TestNextLifecycle(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		left, next time.Duration // from now; next -1 for none
	}{
		{70 * time.Hour, 35 * time.Hour},
		{3 * time.Hour, 90 * time.Minute},
		{90 * time.Minute, 30 * time.Minute}, // an hour before expiry
		{time.Hour, 15 * time.Minute},
		{20 * time.Minute, 15 * time.Minute},
		{15 * time.Minute, -1},
		{0, -1},
	} {
		got := notify.NextLifecycle(now, now.Add(c.left))
		if c.next < 0 {
			if !got.IsZero() {
				t.Errorf("%v left: next at %v, want none", c.left, got)
			}
			continue
		}
		if !got.Equal(now.Add(c.next)) {
			t.Errorf("%v left: next in %v, want %v", c.left, got.Sub(now), c.next)
		}
	}
}

func TestLifecycleNotificationsAreSent(t *testing.T) {
	db := openStore(t)
	h := newHook(t)
	s := &callvault.Subscription{
		ID: "sub-lc", Tenant: tenant, ChangeType: "created", ChangeTypes: callvault.ChangeCreated,
		NotificationURL: h.URL, LifecycleNotificationURL: h.URL + "/lifecycle", ClientState: "secret",
		ExpirationDateTime: time.Now().Add(time.Hour), NextLifecycle: time.Now(),
	}
	if err := db.CreateSubscription(context.Background(), s, 100, time.Now()); err != nil {
		t.Fatal(err)
	}
	d := run(t, db, notify.Options{})
	h.wait(t, 1)
	n := h.notifications(t)
	if len(n) != 1 || n[0]["lifecycleEvent"] != "reauthorizationRequired" || n[0]["subscriptionId"] != "sub-lc" {
		t.Fatalf("lifecycle notifications %v", n)
	}
	time.Sleep(200 * time.Millisecond)
	if got := len(h.notifications(t)); got != 1 {
		t.Errorf("%d lifecycle notifications, want 1 until the next is due", got)
	}
	if d.Counters.Lifecycle.Load() != 1 {
		t.Errorf("lifecycle counter %d", d.Counters.Lifecycle.Load())
	}
}

func TestADeletedSubscriptionStopsDelivery(t *testing.T) {
	db := openStore(t)
	h := newHook(t)
	subscribe(t, db, "sub-1", h.URL, callvault.ChangeCreated)
	put(t, db, "rec-1", 1)
	if err := db.DeleteSubscription(context.Background(), tenant, "sub-1"); err != nil {
		t.Fatal(err)
	}
	run(t, db, notify.Options{})
	time.Sleep(300 * time.Millisecond)
	if n := len(h.notifications(t)); n != 0 {
		t.Errorf("%d notifications for a deleted subscription", n)
	}
}

func TestGraphsSlowEndpointRule(t *testing.T) {
	db := openStore(t)
	h := newHook(t)
	h.delay = 60 * time.Millisecond
	subscribe(t, db, "sub-1", h.URL, callvault.ChangeCreated)
	records := make([]*callvault.Record, 130)
	for i := range records {
		records[i] = &callvault.Record{Tenant: tenant, ID: "rec-" + time.Duration(i).String(), Version: 1, Body: []byte(`{}`)}
	}
	if _, _, err := db.PutRecords(context.Background(), records); err != nil {
		t.Fatal(err)
	}
	// Every answer is "slow": once 100 notifications were answered, the
	// rest is dropped (15 % or more slow), not sent.
	d := run(t, db, notify.Options{BatchSize: 10, Workers: 1, SlowAnswer: 20 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for d.Counters.Delivered.Load()+d.Counters.DroppedSlow.Load() < 130 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got, dropped := d.Counters.Delivered.Load(), d.Counters.DroppedSlow.Load(); got != 100 || dropped != 30 {
		t.Errorf("delivered %d and dropped %d, want 100 and 30", got, dropped)
	}
}

// TestTheSlowRuleCountsAnswers: Graph's share is of slow responses. Nine
// fast POSTs of one notification and one slow POST of 100 are 10 % slow:
// the endpoint is throttled, not dropped, as it would be if each of the
// 100 counted as a slow answer.
func TestTheSlowRuleCountsAnswers(t *testing.T) {
	db := openStore(t)
	h := newHook(t)
	subscribe(t, db, "sub-1", h.URL, callvault.ChangeCreated)
	// Wide margins: a fast answer under -race on a loaded machine must not
	// read as slow.
	d := run(t, db, notify.Options{BatchSize: 100, Workers: 1, SlowAnswer: 400 * time.Millisecond})
	for i := range 9 {
		put(t, db, fmt.Sprintf("fast-%d", i), 1)
		h.wait(t, i+1)
	}
	h.mu.Lock()
	h.delay = 600 * time.Millisecond
	h.mu.Unlock()
	records := make([]*callvault.Record, 100)
	for i := range records {
		records[i] = &callvault.Record{Tenant: tenant, ID: fmt.Sprintf("slow-%d", i), Version: 1, Body: []byte(`{}`)}
	}
	if _, _, err := db.PutRecords(context.Background(), records); err != nil {
		t.Fatal(err)
	}
	h.wait(t, 10)
	h.mu.Lock()
	h.delay = 0
	batch := len(h.bodies)
	h.mu.Unlock()
	if n := len(h.notifications(t)); n != 109 || batch != 10 {
		t.Fatalf("%d notifications in %d POSTs, want 109 in 10 (the slow ones in one)", n, batch)
	}
	put(t, db, "after", 1)
	deadline := time.Now().Add(5 * time.Second)
	for d.Counters.Throttled.Load()+d.Counters.DroppedSlow.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if thr, dropped := d.Counters.Throttled.Load(), d.Counters.DroppedSlow.Load(); thr != 1 || dropped != 0 {
		t.Errorf("after one slow answer in ten: throttled %d, dropped %d; want 1 and 0", thr, dropped)
	}
}

func TestTheSlowRuleCanBeTurnedOff(t *testing.T) {
	db := openStore(t)
	h := newHook(t)
	h.delay = 30 * time.Millisecond
	subscribe(t, db, "sub-1", h.URL, callvault.ChangeCreated)
	records := make([]*callvault.Record, 120)
	for i := range records {
		records[i] = &callvault.Record{Tenant: tenant, ID: "rec-" + time.Duration(i).String(), Version: 1, Body: []byte(`{}`)}
	}
	if _, _, err := db.PutRecords(context.Background(), records); err != nil {
		t.Fatal(err)
	}
	d := run(t, db, notify.Options{BatchSize: 10, Workers: 1, SlowAnswer: 10 * time.Millisecond, NoSlowRule: true})
	deadline := time.Now().Add(10 * time.Second)
	for d.Counters.Delivered.Load() < 120 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := d.Counters.Delivered.Load(); got != 120 || d.Counters.DroppedSlow.Load() != 0 {
		t.Errorf("delivered %d, dropped %d; want all 120 delivered", got, d.Counters.DroppedSlow.Load())
	}
}
