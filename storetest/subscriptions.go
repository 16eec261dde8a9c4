package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// RunSubscriptions runs the conformance suite of the optional
// callvault.SubscriptionStore and callvault.Outbox capabilities. The
// outbox is one queue for a whole database, so its subtests run one after
// the other and ignore what other tenants queued.
func RunSubscriptions(t *testing.T, open func(t *testing.T) callvault.Store) {
	s := &subSuite{open: open}
	t.Run("subscriptions are kept per tenant until they expire", s.testSubscriptions)
	t.Run("the quota counts a tenant's unexpired subscriptions", s.testQuota)
	t.Run("a record's put writes the notifications of its change", s.testOutboxWrites)
	t.Run("claims lease, settles delete or reschedule", s.testClaimSettle)
	t.Run("concurrent claimers never get the same notification", s.testConcurrentClaims)
	t.Run("lifecycle notifications are claimed when due", s.testLifecycle)
	t.Run("delivery attempts are listed per tenant, newest first", s.testAttempts)
}

type subSuite struct {
	open func(t *testing.T) callvault.Store
}

type subStore interface {
	callvault.Store
	callvault.SubscriptionStore
	callvault.Outbox
}

func (s *subSuite) store(t *testing.T) subStore {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() { st.Close() })
	ss, ok := st.(subStore)
	if !ok {
		t.Skip("the store keeps no subscriptions")
	}
	return ss
}

func newSub(t *testing.T, tenant, id string, changes callvault.ChangeTypes, expires time.Time) *callvault.Subscription {
	return &callvault.Subscription{
		ID: id, Tenant: tenant, ApplicationID: "app", Resource: "/communications/callRecords",
		ChangeType: changes.String(), ChangeTypes: changes, NotificationURL: "https://example.invalid/" + id,
		ClientState: "state-" + id, ExpirationDateTime: expires.UTC(),
	}
}

func (s *subSuite) testSubscriptions(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	now := time.Now()
	a, b := tenant(t, "a"), tenant(t, "b")
	one := newSub(t, a, "one", callvault.ChangeCreated, now.Add(time.Hour))
	two := newSub(t, a, "two", callvault.ChangeUpdated, now.Add(time.Minute))
	for _, sub := range []*callvault.Subscription{one, two} {
		if err := st.CreateSubscription(ctx, sub, 100, now); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.GetSubscription(ctx, a, "one", now)
	if err != nil || got.ClientState != "state-one" || !got.ExpirationDateTime.Equal(one.ExpirationDateTime) || got.ChangeTypes != callvault.ChangeCreated {
		t.Errorf("get: %+v, %v", got, err)
	}
	if _, err := st.GetSubscription(ctx, b, "one", now); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("another tenant got it: %v", err)
	}
	list, err := st.ListSubscriptions(ctx, a, now)
	if err != nil || len(list) != 2 || list[0].ID != "one" || list[1].ID != "two" {
		t.Errorf("list: %v, %v", list, err)
	}
	// Past its expiry a subscription is gone from every read.
	later := now.Add(2 * time.Minute)
	if list, _ := st.ListSubscriptions(ctx, a, later); len(list) != 1 {
		t.Errorf("an expired subscription is listed: %d", len(list))
	}
	if _, err := st.GetSubscription(ctx, a, "two", later); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("an expired subscription is got: %v", err)
	}
	one.ExpirationDateTime = now.Add(2 * time.Hour).UTC()
	if err := st.UpdateSubscription(ctx, one, now); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetSubscription(ctx, a, "one", now); got == nil || !got.ExpirationDateTime.Equal(one.ExpirationDateTime) {
		t.Errorf("renewal not kept: %+v", got)
	}
	if err := st.UpdateSubscription(ctx, newSub(t, b, "one", callvault.ChangeCreated, now.Add(time.Hour)), now); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("another tenant updated it: %v", err)
	}
	if err := st.DeleteSubscription(ctx, b, "one"); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("another tenant deleted it: %v", err)
	}
	if err := st.DeleteSubscription(ctx, a, "one"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSubscription(ctx, a, "one"); callvault.ErrorCode(err) != callvault.ENOTFOUND {
		t.Errorf("deleted twice: %v", err)
	}
}

func (s *subSuite) testQuota(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	now := time.Now()
	a := tenant(t, "a")
	if err := st.CreateSubscription(ctx, newSub(t, a, "old", callvault.ChangeCreated, now.Add(time.Second)), 2, now); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSubscription(ctx, newSub(t, a, "x", callvault.ChangeCreated, now.Add(time.Hour)), 2, now); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSubscription(ctx, newSub(t, a, "y", callvault.ChangeCreated, now.Add(time.Hour)), 2, now); callvault.ErrorCode(err) != callvault.EFORBIDDEN {
		t.Errorf("a third of two: %v", err)
	}
	// Once "old" expired, it no longer counts.
	if err := st.CreateSubscription(ctx, newSub(t, a, "y", callvault.ChangeCreated, now.Add(time.Hour)), 2, now.Add(2*time.Second)); err != nil {
		t.Errorf("after an expiry: %v", err)
	}
}

// claimTenant claims everything due and keeps tenant's notifications;
// other tenants' are released at once.
func claimTenant(t *testing.T, st subStore, owner, tenant string, now time.Time) []*callvault.Notification {
	t.Helper()
	ctx := context.Background()
	ns, err := st.ClaimNotifications(ctx, owner, now, time.Minute, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var mine []*callvault.Notification
	var others []callvault.Settlement
	for _, n := range ns {
		if n.Subscription.Tenant == tenant {
			mine = append(mine, n)
		} else {
			others = append(others, callvault.Settlement{Seq: n.Seq, RetryAt: now})
		}
	}
	if err := st.SettleNotifications(ctx, owner, others); err != nil {
		t.Fatal(err)
	}
	return mine
}

func putVersion(t *testing.T, st callvault.Store, tenant, id string, version int64) {
	t.Helper()
	r := &callvault.Record{Tenant: tenant, ID: id, Version: version, Body: []byte(`{}`),
		StartDateTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), EndDateTime: time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	if _, err := st.PutRecord(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func (s *subSuite) testOutboxWrites(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	now := time.Now()
	a, b := tenant(t, "a"), tenant(t, "b")
	for _, sub := range []*callvault.Subscription{
		newSub(t, a, "both", callvault.ChangeCreated|callvault.ChangeUpdated, now.Add(time.Hour)),
		newSub(t, a, "created", callvault.ChangeCreated, now.Add(time.Hour)),
		newSub(t, a, "updated", callvault.ChangeUpdated, now.Add(time.Hour)),
		newSub(t, b, "b", callvault.ChangeCreated|callvault.ChangeUpdated, now.Add(time.Hour)),
	} {
		if err := st.CreateSubscription(ctx, sub, 100, now); err != nil {
			t.Fatal(err)
		}
	}
	putVersion(t, st, a, "r", 1) // created: both, created
	putVersion(t, st, a, "r", 2) // updated: both, updated
	putVersion(t, st, a, "r", 2) // the same version: nothing
	putVersion(t, st, a, "r", 1) // stale: nothing
	if _, _, err := st.(callvault.BatchStore).PutRecords(ctx, []*callvault.Record{{Tenant: a, ID: "batch", Version: 1, Body: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, n := range claimTenant(t, st, "me", a, time.Now().Add(time.Second)) {
		got[fmt.Sprintf("%s %s %s", n.Subscription.ID, n.RecordID, n.Change)]++
		if n.Subscription.ClientState != "state-"+n.Subscription.ID || n.Attempts != 0 || n.Deferred {
			t.Errorf("notification %+v", n)
		}
	}
	want := map[string]int{"both r created": 1, "created r created": 1, "both r updated": 1, "updated r updated": 1,
		"both batch created": 1, "created batch created": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("notifications\n got %v\nwant %v", got, want)
	}
}

func (s *subSuite) testClaimSettle(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	now := time.Now()
	a := tenant(t, "a")
	if err := st.CreateSubscription(ctx, newSub(t, a, "s", callvault.ChangeCreated, now.Add(time.Hour)), 100, now); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		putVersion(t, st, a, fmt.Sprint("r", i), 1)
	}
	at := time.Now().Add(time.Second)
	ns := claimTenant(t, st, "me", a, at)
	if len(ns) != 3 {
		t.Fatalf("claimed %d, want 3", len(ns))
	}
	// Leased: no one else gets them before the lease ends…
	if again := claimTenant(t, st, "other", a, at.Add(30*time.Second)); len(again) != 0 {
		t.Errorf("claimed %d leased notifications", len(again))
	}
	// …one settled by another owner stays leased to me.
	if err := st.SettleNotifications(ctx, "other", []callvault.Settlement{{Seq: ns[0].Seq, Done: true}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SettleNotifications(ctx, "me", []callvault.Settlement{
		{Seq: ns[0].Seq, Done: true},
		{Seq: ns[1].Seq, RetryAt: at.Add(10 * time.Second), Attempted: true},
		{Seq: ns[2].Seq, RetryAt: at.Add(20 * time.Second)},
	}); err != nil {
		t.Fatal(err)
	}
	if got := claimTenant(t, st, "me", a, at.Add(5*time.Second)); len(got) != 0 {
		t.Errorf("claimed %d before they were due", len(got))
	}
	got := claimTenant(t, st, "me", a, at.Add(15*time.Second))
	if len(got) != 1 || got[0].Seq != ns[1].Seq || got[0].Attempts != 1 || !got[0].Deferred {
		t.Errorf("the retry: %+v", got)
	}
	// After the lease ran out, another owner takes over.
	got = claimTenant(t, st, "other", a, at.Add(15*time.Second+2*time.Minute))
	if len(got) != 2 {
		t.Errorf("after the lease: %d, want 2", len(got))
	}
	// A deleted subscription takes its notifications with it.
	if err := st.DeleteSubscription(ctx, a, "s"); err != nil {
		t.Fatal(err)
	}
	if got := claimTenant(t, st, "me", a, at.Add(time.Hour)); len(got) != 0 {
		t.Errorf("%d notifications of a deleted subscription", len(got))
	}
}

func (s *subSuite) testConcurrentClaims(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	now := time.Now()
	a := tenant(t, "a")
	if err := st.CreateSubscription(ctx, newSub(t, a, "s", callvault.ChangeCreated, now.Add(time.Hour)), 100, now); err != nil {
		t.Fatal(err)
	}
	const records = 200
	batch := make([]*callvault.Record, records)
	for i := range batch {
		batch[i] = &callvault.Record{Tenant: a, ID: fmt.Sprint("r", i), Version: 1, Body: []byte(`{}`)}
	}
	if _, _, err := st.(callvault.BatchStore).PutRecords(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	at := time.Now().Add(time.Second)
	for w := range 4 {
		owner := fmt.Sprint("worker", w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ns, err := st.ClaimNotifications(ctx, owner, at, time.Hour, 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ns) == 0 {
					return
				}
				var done []callvault.Settlement
				mu.Lock()
				for _, n := range ns {
					if n.Subscription.Tenant != a {
						continue
					}
					if prev, ok := seen[n.Seq]; ok {
						t.Errorf("notification %d claimed by %s and %s", n.Seq, prev, owner)
					}
					seen[n.Seq] = owner
					done = append(done, callvault.Settlement{Seq: n.Seq, Done: true})
				}
				mu.Unlock()
				if err := st.SettleNotifications(ctx, owner, done); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != records {
		t.Errorf("%d notifications claimed, want %d", len(seen), records)
	}
}

func (s *subSuite) testLifecycle(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	now := time.Now()
	a := tenant(t, "a")
	sub := newSub(t, a, "lc", callvault.ChangeCreated, now.Add(time.Hour))
	sub.LifecycleNotificationURL = "https://example.invalid/lifecycle"
	sub.NextLifecycle = now.Add(time.Minute)
	if err := st.CreateSubscription(ctx, sub, 100, now); err != nil {
		t.Fatal(err)
	}
	mine := func(subs []*callvault.Subscription) (n int) {
		for _, s := range subs {
			if s.Tenant == a {
				n++
			}
		}
		return n
	}
	if got, err := st.ClaimLifecycle(ctx, "me", now, time.Minute, 100); err != nil || mine(got) != 0 {
		t.Errorf("claimed before due: %d, %v", mine(got), err)
	}
	if got, err := st.ClaimLifecycle(ctx, "me", now.Add(2*time.Minute), time.Minute, 100); err != nil || mine(got) != 1 {
		t.Errorf("claimed when due: %d, %v", mine(got), err)
	}
	if got, _ := st.ClaimLifecycle(ctx, "me", now.Add(2*time.Minute), time.Minute, 100); mine(got) != 0 {
		t.Errorf("claimed twice within the lease")
	}
	if err := st.SetNextLifecycle(ctx, a, "lc", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ClaimLifecycle(ctx, "me", now.Add(50*time.Minute), time.Minute, 100); mine(got) != 0 {
		t.Errorf("claimed with none scheduled")
	}
}

func (s *subSuite) testAttempts(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	a, b := tenant(t, "a"), tenant(t, "b")
	base := time.Now().Add(-time.Hour)
	var attempts []callvault.DeliveryAttempt
	for i := range 3 {
		attempts = append(attempts, callvault.DeliveryAttempt{Time: base.Add(time.Duration(i) * time.Second), Tenant: a,
			SubscriptionID: fmt.Sprint("s", i%2), Kind: "notification", URL: "https://h/x", Notifications: 1, Attempt: i + 1, Status: 500 + i, Outcome: "retry"})
	}
	attempts = append(attempts, callvault.DeliveryAttempt{Time: base, Tenant: b, SubscriptionID: "s0", Status: 202})
	if err := st.AddDeliveryAttempts(ctx, attempts); err != nil {
		t.Fatal(err)
	}
	got, err := st.ListDeliveryAttempts(ctx, a, "", 10)
	if err != nil || len(got) != 3 || got[0].Status != 502 || got[2].Status != 500 || got[0].Tenant != a {
		t.Errorf("list: %+v, %v", got, err)
	}
	if got, _ := st.ListDeliveryAttempts(ctx, a, "s0", 10); len(got) != 2 {
		t.Errorf("of s0: %d, want 2", len(got))
	}
	if got, _ := st.ListDeliveryAttempts(ctx, a, "", 1); len(got) != 1 || got[0].Status != 502 {
		t.Errorf("top 1: %+v", got)
	}
	// Pruning drops what is older than its horizon.
	if err := st.PruneOutbox(ctx, time.Now(), base.Add(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.ListDeliveryAttempts(ctx, a, "", 10); len(got) != 1 {
		t.Errorf("after pruning: %d, want 1", len(got))
	}
}
