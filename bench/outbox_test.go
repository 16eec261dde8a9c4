package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/sqlite"
)

// BenchmarkOutboxCost puts batches of small records into SQLite, into a
// tenant without subscriptions (the baseline) and with one: the difference
// per record is what the transactional outbox costs a write, the
// notification row and its index entries.
func BenchmarkOutboxCost(b *testing.B) {
	for _, subs := range []int{0, 1, 10} {
		b.Run(fmt.Sprintf("%d subscriptions", subs), func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "callvault.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			now := time.Now()
			for i := range subs {
				s := &callvault.Subscription{ID: fmt.Sprint("sub-", i), Tenant: storeTenant, ChangeType: "created,updated",
					ChangeTypes: callvault.ChangeCreated | callvault.ChangeUpdated, NotificationURL: "https://127.0.0.1:9/hook",
					ExpirationDateTime: now.Add(time.Hour)}
				if err := db.CreateSubscription(ctx, s, callvault.SubscriptionQuota, now); err != nil {
					b.Fatal(err)
				}
			}
			const batch = 500
			body := []byte(`{"id":"x","version":1,"type":"peerToPeer","modalities":["audio"]}`)
			n := 0
			for b.Loop() {
				records := make([]*callvault.Record, batch)
				for i := range records {
					n++
					records[i] = &callvault.Record{Tenant: storeTenant, ID: fmt.Sprint("rec-", n), Version: 1, Body: body,
						StartDateTime: now, EndDateTime: now, Sessions: []callvault.Session{{ID: "s", Body: body}}}
				}
				if _, _, err := db.PutRecords(ctx, records); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
		})
	}
}
