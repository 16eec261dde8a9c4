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
	summary: "write classified streams, calls or PSTN rows as CSV or Parquet, or the records as a re-importable archive",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &exportConfig{fs: fs}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory whose database to export")
		fs.StringVar(&c.db, "db", "", dbFlagUsage)
		fs.StringVar(&c.tenant, "tenant", "", "the tenant `ID` to export (required)")
		fs.StringVar(&c.from, "from", "", "streams: the first `day` (or RFC 3339 time); default 28 days before --to")
		fs.StringVar(&c.to, "to", "", "streams: the `day` after the last (or an RFC 3339 time); default tomorrow")
		fs.StringVar(&c.out, "out", "-", "streams: the CSV or Parquet `file` (- for standard output); calls, pstn, archive: the directory")
		fs.StringVar(&c.format, "format", "csv", "streams, calls, pstn: `csv` or parquet")
		fs.BoolVar(&c.full, "full", false, "calls, pstn, archive: export everything, not only what changed since the directory's last run")
		describe(fs, "callvault export streams|calls|pstn|archive --tenant TENANT_ID [flags]", `
  callvault export streams --tenant T [--from DAY] [--to DAY] [--out FILE] [--format parquet]
      writes the tenant's classified media streams as CSV, one row per stream
      and direction: CQD's classification, the reasons, the metrics and the
      First and Second endpoints' dimensions (with the building of the
      tenant's building file), under CQD-like column names; with --format
      parquet the same columns as a Parquet file (metrics nullable doubles,
      StartTime a timestamp), for DuckDB, pandas or Spark.
  callvault export calls --tenant T --out DIR [--full] [--format parquet]
      writes a CSV row for each call record (id, version, type, modalities,
      times, organizer, session and participant counts) to DIR/calls-RUN.csv:
      the first run every record, each later run the records whose
      lastModifiedDateTime passed the last run's (DIR/.callvault-export-calls).
      With --format parquet, DIR/calls-RUN.parquet: the same columns, typed
      (times as timestamps, counts and version as integers).
  callvault export pstn --tenant T --out DIR [--full] [--format parquet]
      the same for the PSTN call rows of getPstnCalls (pstnCallLogRow's
      properties, with their schema types in Parquet: charges as doubles,
      duration an integer, times timestamps), to DIR/pstn-RUN.csv or
      .parquet, incremental by startDateTime (DIR/.callvault-export-pstn).
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
	out, format                string
	full                       bool
}

// exportState is what an archive directory remembers between runs.
type exportState struct {
	Latest time.Time `json:"latestLastModifiedDateTime"`
}

func (c *exportConfig) run(ctx context.Context, args []string, std stdio) error {
	if len(args) == 0 || (args[0] != "streams" && args[0] != "calls" && args[0] != "pstn" && args[0] != "archive") {
		return fmt.Errorf("%w: name what to export: streams, calls, pstn or archive", errUsage)
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
	format, err := export.ParseFormat(c.format)
	if err != nil {
		return fmt.Errorf("%w: --format: %v", errUsage, err)
	}
	store, err := openStore(ctx, c.data, c.db)
	if err != nil {
		return err
	}
	defer store.Close()
	switch what {
	case "archive":
		return c.archive(ctx, store, std)
	case "calls":
		return c.rows(ctx, store, std, "calls", format, export.Calls)
	case "pstn":
		return c.rows(ctx, store, std, "pstn", format, export.PSTN)
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
	n, err := export.Streams(ctx, qs, c.tenant, q.From, q.To, files, format, w)
	if err != nil {
		return err
	}
	fmt.Fprintf(std.err, "exported %d streams from %s to %s\n", n, q.From.Format(time.DateOnly), q.To.Format(time.DateOnly))
	return nil
}

// readState reads what the directory of an incremental export remembers
// (nothing with --full, or on its first run).
func (c *exportConfig) readState(what, statePath string) (exportState, error) {
	var state exportState
	if c.out == "-" || c.out == "" {
		return state, fmt.Errorf("%w: %s needs --out DIR", errUsage, what)
	}
	if !c.full {
		if b, err := os.ReadFile(statePath); err == nil {
			if err := json.Unmarshal(b, &state); err != nil {
				return state, fmt.Errorf("%s: %w (remove it, or use --full)", statePath, err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return state, err
		}
	}
	return state, os.MkdirAll(c.out, 0o755)
}

// saveState moves the directory's state on to latest, when it is later.
func saveState(statePath string, state exportState, latest time.Time) error {
	if !latest.After(state.Latest) {
		return nil
	}
	state.Latest = latest
	b, _ := json.Marshal(state)
	return os.WriteFile(statePath, b, 0o644)
}

// rows runs an incremental export of rows (calls, pstn) into a new file of
// the directory.
func (c *exportConfig) rows(ctx context.Context, store callvault.Store, std stdio, what string, format export.Format,
	write func(context.Context, callvault.Store, string, time.Time, export.Format, io.Writer) (export.CallStats, error)) error {
	statePath := filepath.Join(c.out, ".callvault-export-"+what)
	state, err := c.readState(what, statePath)
	if err != nil {
		return err
	}
	name := filepath.Join(c.out, what+"-"+time.Now().UTC().Format("20060102T150405.000000000Z")+format.Ext())
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	stats, err := write(ctx, store, c.tenant, state.Latest, format, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return err
	}
	if err := saveState(statePath, state, stats.Latest); err != nil {
		return err
	}
	fmt.Fprintf(std.out, "exported %d %s rows to %s\n", stats.Rows, what, name)
	return nil
}

func (c *exportConfig) archive(ctx context.Context, store callvault.Store, std stdio) error {
	statePath := filepath.Join(c.out, ".callvault-export")
	state, err := c.readState("archive", statePath)
	if err != nil {
		return err
	}
	run := time.Now().UTC().Format("20060102T150405Z")
	stats, err := export.Archive(ctx, store, c.tenant, state.Latest, c.out, run)
	if err != nil {
		return err
	}
	if err := saveState(statePath, state, stats.Latest); err != nil {
		return err
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
