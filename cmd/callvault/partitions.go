package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/postgres"
)

// partitionEvery is how often serve makes the partitions ahead and, with
// --retention, drops the expired months.
const partitionEvery = time.Hour

// keepPartitions looks after a partitioned PostgreSQL database while serve
// runs: it makes the partitions of this month and the next two, so that no
// write waits for one, and with retention drops the months whose records
// have all expired (docs/scaling.md). Every replica of serve may do it: the
// work is idempotent. It returns a function that stops it; on any other
// store it does nothing.
func keepPartitions(ctx context.Context, store callvault.Store, retention time.Duration, logger *slog.Logger) (stop func()) {
	db, ok := store.(*postgres.DB)
	if !ok || !db.Partitioned() {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	tend := func() {
		now := time.Now().UTC()
		if err := db.EnsurePartitions(ctx, now, now.AddDate(0, 2, 0)); err != nil && ctx.Err() == nil {
			logger.Warn("make partitions ahead", "err", err)
		}
		if retention <= 0 {
			return
		}
		start := time.Now()
		dropped, err := db.DropExpired(ctx, now.Add(-retention))
		if err != nil && ctx.Err() == nil {
			logger.Warn("drop expired partitions", "err", err)
		}
		if len(dropped) > 0 {
			logger.Info("expired months dropped", "months", strings.Join(dropped, ","), "took", time.Since(start).Round(time.Millisecond))
		}
	}
	go func() {
		defer close(done)
		t := time.NewTicker(partitionEvery)
		defer t.Stop()
		for {
			tend()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}
