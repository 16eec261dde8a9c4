// Command notifybench measures how fast callvault delivers change
// notifications to a loopback webhook that acknowledges at once, against a
// baseline measured in the same run: the same POST bodies sent by plain
// goroutines through the same HTTP client, which is the floor of HTTP on
// this machine. The difference is the outbox: claiming, settling and
// logging each batch in the store.
//
//	go run ./bench/cmd/notifybench -notifications 20000
//
// Everything runs in this process, on loopback only.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/notify"
	"github.com/callvault/callvault/outbound"
	"github.com/callvault/callvault/sqlite"
)

const tenant = "9b1c2f4e-0b8a-4c9e-8f3a-5d6e7f8a9b0c"

func main() {
	total := flag.Int("notifications", 20000, "how many notifications to deliver (at most 1,000,000)")
	batch := flag.Int("batch", 100, "notifications in one POST")
	workers := flag.Int("workers", 8, "POSTs in flight at once")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the dispatcher's run to this file")
	flag.Parse()
	log.SetFlags(0)
	if *total < 1 || *total > 1_000_000 || *batch < 1 || *workers < 1 {
		log.Fatal("-notifications must be 1 to 1,000,000, -batch and -workers 1 or more")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "notifybench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	var got atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Add(int64(bytes.Count(b, []byte(`"subscriptionId"`))))
		w.WriteHeader(http.StatusAccepted)
	}))
	defer hook.Close()
	client := outbound.Policy{AllowHTTP: true}.Client(3 * time.Second)

	db, err := sqlite.Open(ctx, filepath.Join(dir, "callvault.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	sub := &callvault.Subscription{ID: "sub", Tenant: tenant, ChangeType: "created", ChangeTypes: callvault.ChangeCreated,
		NotificationURL: hook.URL + "/notify", ClientState: "bench", ExpirationDateTime: now.Add(time.Hour)}
	if err := db.CreateSubscription(ctx, sub, callvault.SubscriptionQuota, now); err != nil {
		log.Fatal(err)
	}
	for i := 0; i < *total; i += 1000 {
		var records []*callvault.Record
		for j := i; j < min(i+1000, *total); j++ {
			records = append(records, &callvault.Record{Tenant: tenant, ID: fmt.Sprintf("rec-%07d", j), Version: 1, Body: []byte(`{}`)})
		}
		if _, _, err := db.PutRecords(ctx, records); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("GOMAXPROCS %d, %s; %d notifications in POSTs of %d, %d in flight\n", runtime.GOMAXPROCS(0), runtime.Version(), *total, *batch, *workers)

	// Baseline: the same bodies, posted by plain goroutines.
	var bodies [][]byte
	for i := 0; i < *total; i += *batch {
		var ns []*callvault.Notification
		for j := i; j < min(i+*batch, *total); j++ {
			ns = append(ns, &callvault.Notification{Subscription: *sub, RecordID: fmt.Sprintf("rec-%07d", j), Change: callvault.ChangeCreated})
		}
		bodies = append(bodies, notify.AppendNotifications(nil, ns))
	}
	start := time.Now()
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				resp, err := client.Post(hook.URL+"/notify", "application/json; charset=utf-8", bytes.NewReader(bodies[i]))
				if err != nil {
					log.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	base := time.Since(start)
	baseRate := float64(*total) / base.Seconds()
	fmt.Printf("baseline  %8.0f notifications/s (%v)\n", baseRate, base.Round(time.Millisecond))

	// The dispatcher, from the outbox.
	got.Store(0)
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	d := &notify.Dispatcher{Store: db, Client: client, Options: notify.Options{BatchSize: *batch, Workers: *workers, NoSlowRule: true}}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	start = time.Now()
	go func() { d.Run(runCtx); close(done) }()
	deadline := time.Now().Add(10 * time.Minute)
	for got.Load() < int64(*total) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	cancel()
	<-done
	if got.Load() < int64(*total) {
		log.Fatalf("only %d of %d notifications delivered within 10 minutes", got.Load(), *total)
	}
	rate := float64(*total) / took.Seconds()
	fmt.Printf("callvault %8.0f notifications/s (%v), %d POSTs\n", rate, took.Round(time.Millisecond), d.Counters.Posts.Load())
	fmt.Printf("ratio     %8.3f of the baseline\n", rate/baseRate)
}
