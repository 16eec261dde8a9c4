package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/callvault/callvault/synth"
)

var generateCommand = command{
	name:    "generate",
	summary: "write realistic call records for testing",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &generateConfig{}
		fs.StringVar(&c.tenant, "tenant", "", "the tenant `ID` (a GUID) the records belong to (required)")
		fs.IntVar(&c.records, "records", 1000, "how many calls to generate")
		fs.Int64Var(&c.seed, "seed", 1, "selects the data: the same seed, tenant and flags give the same bytes")
		fs.StringVar(&c.from, "from", "", "the earliest `DATE` a call starts (2026-08-03 or RFC 3339) (default a week before --to,\nor Monday 3 August 2026 when neither is set)")
		fs.StringVar(&c.to, "to", "", "the `DATE` by which every call has ended (default a week after --from)")
		fs.StringVar(&c.out, "out", "-", "the `FILE` to write the records to; - is standard output")
		fs.StringVar(&c.reports, "reports", "", "also write the report rows that match the calls' phone legs to this `DIR`:\npstnCalls.jsonl (getPstnCalls) and directRoutingCalls.jsonl (getDirectRoutingCalls)")
		fs.BoolVar(&c.revisions, "revisions", true, "send the records that late data updated twice, as Graph does: their earlier version first,\nthe final one (a higher version) later in the stream")
		fs.DurationVar(&c.every, "progress", 2*time.Second, "how often to report progress on standard error; 0 turns it off")
		describe(fs, "callvault generate --tenant TENANT_ID [--records N] [--seed S] [flags]", `
Writes realistic call records in Graph's wire shape as JSON Lines, ready for
'callvault import', deterministically: the same seed, tenant and flags always
give the same bytes.

The mix is a mid-sized enterprise on Teams: peer-to-peer and group calls,
meetings from 3 to 10,000 participants (large ones rare), participant and
service endpoints with their real roles, Teams, Skype for Business and Azure
Communication Services clients across platforms, devices and networks (wired,
wifi, mobile, VPN), audio, video and screen sharing in both directions, a few
percent of poor audio streams by the Call Quality Dashboard's thresholds, user
feedback, call setup and mid-call failures, phone dial-ins, and records updated
after the call (version 2 or more). Package synth documents every distribution.

  callvault generate --tenant $TENANT --records 100000 --out calls.jsonl --reports reports
  callvault import --tenant $TENANT calls.jsonl reports/*.jsonl

Progress and a summary go to standard error.`)
		return c.run
	},
}

type generateConfig struct {
	tenant, from, to, out, reports string
	records                        int
	seed                           int64
	revisions                      bool
	every                          time.Duration
}

func (c *generateConfig) run(ctx context.Context, args []string, std stdio) (err error) {
	if len(args) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	if c.tenant == "" {
		return fmt.Errorf("%w: --tenant is required", errUsage)
	}
	if c.records < 0 {
		return fmt.Errorf("%w: --records must not be negative", errUsage)
	}
	cfg := synth.Config{Tenant: c.tenant, Seed: c.seed, Records: c.records, Revisions: c.revisions}
	if cfg.From, err = parseDate("--from", c.from); err != nil {
		return err
	}
	if cfg.To, err = parseDate("--to", c.to); err != nil {
		return err
	}

	var w io.Writer = std.out
	if c.out != "-" {
		f, err := os.Create(c.out)
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		w = f
	}
	if c.reports != "" {
		if err := os.MkdirAll(c.reports, 0o755); err != nil {
			return err
		}
		for _, r := range []struct {
			name string
			w    *io.Writer
		}{{"pstnCalls.jsonl", &cfg.PSTN}, {"directRoutingCalls.jsonl", &cfg.DirectRouting}} {
			f, err := os.Create(filepath.Join(c.reports, r.name))
			if err != nil {
				return err
			}
			bw := bufio.NewWriterSize(f, 64<<10)
			defer func() {
				ferr := bw.Flush()
				if cerr := f.Close(); ferr == nil {
					ferr = cerr
				}
				if err == nil {
					err = ferr
				}
			}()
			*r.w = bw
		}
	}

	start := time.Now()
	prog := &genProgress{statusLine: newStatusLine(std.err, c.every, start), total: c.records}
	cfg.OnRecord = prog.update
	st, err := synth.Write(ctxWriter{ctx, w}, cfg)
	prog.clear()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(std.err, "generated %d calls (%d lines: %d records came again at a higher version), %d sessions, %d segments, %d streams, %s; %d PSTN and %d direct routing rows; in %s\n",
		st.Records-st.Revisions, st.Records, st.Revisions, st.Sessions, st.Segments, st.Streams, bytesText(st.Bytes), st.PSTNRows, st.DirectRouting, took.Round(time.Millisecond))
	return nil
}

// ctxWriter fails its writes once the context ends, which stops
// synth.Write (on Ctrl-C).
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

func parseDate(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %s %q is not a date (2026-08-03) or an RFC 3339 time (2026-08-03T09:00:00Z)", errUsage, flagName, s)
}

// genProgress reports a generation's progress like import's: a line
// redrawn in place on a terminal, plain lines otherwise.
type genProgress struct {
	statusLine
	total int
}

func (p *genProgress) update(st synth.Stats) {
	d, ok := p.due()
	if !ok {
		return
	}
	elapsed := d.Seconds()
	calls := st.Records - st.Revisions
	line := fmt.Sprintf("generate: %d of %d calls, %d sessions, %s written, %.0f records/s", calls, p.total, st.Sessions, bytesText(st.Bytes), float64(st.Records)/elapsed)
	if calls > 0 && p.total > 0 {
		eta := time.Duration(float64(p.total-calls) / (float64(calls) / elapsed) * float64(time.Second))
		line += fmt.Sprintf(", %.0f%%, ETA %s", 100*float64(calls)/float64(p.total), eta.Round(time.Second))
	}
	p.show(line)
}
