package main

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/graph"
)

// driftPoll is how often serve looks for schema drift that lenient imports
// (a mirror, in another process) kept since it started.
const driftPoll = 30 * time.Second

// followDrift makes srv write back the schema drift the store keeps: what
// is kept now, before the first request, then what lenient imports add,
// within driftPoll. A store without a DriftStore keeps none.
func followDrift(ctx context.Context, srv *graph.Server, store callvault.Store, logger *slog.Logger) error {
	ds, ok := store.(callvault.DriftStore)
	if !ok {
		return nil
	}
	var names []callvault.SchemaDrift
	apply := func(seen []callvault.DriftSeen) error {
		now := make([]callvault.SchemaDrift, len(seen))
		for i, d := range seen {
			now[i] = d.SchemaDrift
		}
		if slices.Equal(now, names) {
			return nil
		}
		if err := srv.SetDrift(graph.DriftOf(seen)); err != nil {
			return err
		}
		names = now
		logger.Info("serving the schema drift that lenient imports kept (callvault schema drift lists it)", "names", len(now))
		return nil
	}
	seen, err := ds.Drift(ctx)
	if err != nil {
		return err
	}
	if err := apply(seen); err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(driftPoll)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			seen, err := ds.Drift(ctx)
			if err == nil {
				err = apply(seen)
			}
			if err != nil && ctx.Err() == nil {
				logger.Warn("reading the schema drift failed; serving what was read before", "err", err)
			}
		}
	}()
	return nil
}
