package main

import (
	"context"
	"fmt"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/quality"
)

// fillQuality classifies the records stored before classification was
// done at import (migrate --quality, the default): what the analytics and
// the web view read. A store without the capability is left alone.
func (c *migrateConfig) fillQuality(ctx context.Context, store callvault.Store, std stdio) error {
	qs, ok := store.(callvault.QualityStore)
	if !c.quality || !ok {
		return nil
	}
	start := time.Now()
	line := newStatusLine(std.err, c.every, start)
	stats, err := qs.FillQuality(ctx, quality.Record, func(s callvault.QualityStats) {
		if d, ok := line.due(); ok {
			line.show(fmt.Sprintf("call quality: %d records classified, %.0f records/s", s.Records, float64(s.Records)/d.Seconds()))
		}
	})
	line.clear()
	w := std.out
	if err != nil {
		w = std.err
	}
	if err != nil || stats.Records > 0 { // nothing stored before: migrate's output stays as it was
		fmt.Fprintf(w, "call quality: classified %d records stored before (%d streams), in %s\n",
			stats.Records, stats.Streams, time.Since(start).Round(time.Millisecond))
	}
	if err != nil {
		return err
	}
	return refreshRollup(ctx, store, std)
}

// refreshRollup computes the rollup's dirty days, so that the first page
// after an import or a migration does not have to.
func refreshRollup(ctx context.Context, store callvault.Store, std stdio) error {
	r, ok := store.(callvault.QualityRollupRefresher)
	if !ok {
		return nil
	}
	start := time.Now()
	days, err := r.RefreshQualityRollup(ctx)
	if days > 0 || err != nil {
		fmt.Fprintf(std.err, "call quality: the daily rollup of %d days computed, in %s\n", days, time.Since(start).Round(time.Millisecond))
	}
	return err
}
