package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/analytics"
	"github.com/callvault/callvault/export"
)

var exportCommand = command{
	name:    "export",
	summary: "write classified streams as CSV, or the records as a re-importable archive",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &exportConfig{fs: fs}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose database to export")
		fs.StringVar(&c.db, "db", "", dbFlagUsage)
		fs.StringVar(&c.tenant, "tenant", "", "the tenant `ID` to export (required)")
		fs.StringVar(&c.from, "from", "", "streams: the first `day` (or RFC 3339 time); default 28 days before --to")
		fs.StringVar(&c.to, "to", "", "streams: the `day` after the last (or an RFC 3339 time); default tomorrow")
		fs.StringVar(&c.out, "out", "-", "streams: the CSV `file` (- for standard output); archive: the directory")
		fs.BoolVar(&c.full, "full", false, "archive: export every record, not only those changed since the directory's last run")
		describe(fs, "callvault export streams|archive --tenant TENANT_ID [flags]", `
  callvault export streams --tenant T [--from DAY] [--to DAY] [--out FILE]
      writes the tenant's classified media streams as CSV, one row per stream
      and direction: CQD's classification, the reasons, the metrics and the
      First and Second endpoints' dimensions (with the building of the
      tenant's building file), under CQD-like column names.
  callvault export archive --tenant T --out DIR [--full]
      writes the tenant's call records in Graph's wire shape (as GET
      /beta/communications/callRecords/{id}?$expand=sessions($expand=segments)
      returns them, with participants_v2 and organizer_v2), JSON Lines in
      gzip, one file per day of startDateTime: DIR/date=YYYY-MM-DD/records-RUN.jsonl.gz.
      'callvault import' reads them back. DIR/.callvault-export remembers the
      highest lastModifiedDateTime written, so the next run (a daily job)
      writes only the records that changed since.`)
		return c.run
	},
}

type exportConfig struct {
	fs                         *flag.FlagSet
	data, db, tenant, from, to string
	out                        string
	full                       bool
}

// exportState is what an archive directory remembers between runs.
type exportState struct {
	Latest time.Time `json:"latestLastModifiedDateTime"`
}

func (c *exportConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) == 0 || (args[0] != "streams" && args[0] != "archive") {
		return fmt.Errorf("%w: name what to export: streams or archive", errUsage)
	}
	what := args[0]
	if err := c.fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, c.fs.Arg(0))
	}
	if c.tenant == "" {
		return fmt.Errorf("%w: --tenant is required", errUsage)
	}
	store, err := openStore(ctx, c.data, c.db)
	if err != nil {
		return err
	}
	defer store.Close()
	if what == "archive" {
		return c.archive(ctx, store, std)
	}
	qs, ok := store.(callvault.QualityStore)
	if !ok {
		return fmt.Errorf("the %T store keeps no classified streams", store)
	}
	q, err := analytics.ParseQuery(map[string][]string{"from": {c.from}, "to": {c.to}}, time.Now())
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, callvault.ErrorMessage(err))
	}
	files, err := analytics.LoadFiles(ctx, qs, c.tenant)
	if err != nil {
		return err
	}
	var w io.Writer = std.out
	if c.out != "-" {
		f, err := os.Create(c.out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	n, err := export.Streams(ctx, qs, c.tenant, q.From, q.To, files, w)
	if err != nil {
		return err
	}
	fmt.Fprintf(std.err, "exported %d streams from %s to %s\n", n, q.From.Format(time.DateOnly), q.To.Format(time.DateOnly))
	return nil
}

func (c *exportConfig) archive(ctx context.Context, store callvault.Store, std stdio) error {
	if c.out == "-" || c.out == "" {
		return fmt.Errorf("%w: archive needs --out DIR", errUsage)
	}
	statePath := filepath.Join(c.out, ".callvault-export")
	var state exportState
	if !c.full {
		if b, err := os.ReadFile(statePath); err == nil {
			if err := json.Unmarshal(b, &state); err != nil {
				return fmt.Errorf("%s: %w (remove it, or use --full)", statePath, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	run := time.Now().UTC().Format("20060102T150405Z")
	stats, err := export.Archive(ctx, store, c.tenant, state.Latest, c.out, run)
	if err != nil {
		return err
	}
	if stats.Latest.After(state.Latest) {
		state.Latest = stats.Latest
		b, _ := json.Marshal(state)
		if err := os.WriteFile(statePath, b, 0o644); err != nil {
			return err
		}
	}
	since := "the beginning"
	if !state.Latest.IsZero() && !c.full {
		since = "the last run"
	}
	fmt.Fprintf(std.out, "archived %d records changed since %s, in %d files under %s\n", stats.Records, since, len(stats.Files), c.out)
	return nil
}

// gunzipped returns r decompressed when it starts with gzip's magic bytes
// (the files of export archive), else r as it is.
func gunzipped(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}
