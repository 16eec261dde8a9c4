package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/callvault/callvault/ingest"
)

// errRejected says that some records were rejected: exit status 1, the
// summary and the rejections have already been printed.
var errRejected = errors.New("records were rejected")

var importCommand = command{
	name:    "import",
	summary: "load call records into the store",
	flags: func(fs *flag.FlagSet) func(context.Context, []string, stdio) error {
		c := &importConfig{}
		fs.StringVar(&c.data, "data", defaultDataDir, "the data directory (created if missing)")
		fs.StringVar(&c.db, "db", "", dbFlagUsage)
		fs.StringVar(&c.tenant, "tenant", "", "the tenant `ID` the records belong to (required)")
		fs.DurationVar(&c.every, "progress", 2*time.Second, "how often to report progress on long imports; 0 turns it off")
		fs.BoolVar(&c.lenient, "lenient", false, "keep properties and enum members the schema does not declare (Graph's newer\nschema) instead of rejecting the record; see callvault schema drift")
		fs.StringVar(&c.kind, "type", "", "read the files as rows of this report `type` instead of call records: pstnCallLogRow,\ndirectRoutingLogRow, smsLogRow, pstnBlockedUsersLogRow or pstnOnlineMeetingDialoutReport\n(a row that names its type with \"@odata.type\" is read as that type anyway)")
		describe(fs, "callvault import --tenant TENANT_ID [flags] FILE...", `
Loads call records into the store. FILE is JSON (one callRecord object, several
objects one after another, or an array of them) or JSON Lines; - reads standard
input. Each record is in Graph's own wire shape, as
  GET /beta/communications/callRecords/{id}?$expand=sessions($expand=segments)
returns it: sessions and their segments inline; participants_v2 and
organizer_v2 may be inline too.

Each record is validated against the schema and stored whole or not at all. A
bad record is reported with its file, line, JSON path and reason, and the rest
goes on. A record whose id is already stored replaces it when its version is
higher or equal, and is skipped as stale when it is lower, so importing a file
twice changes nothing.

The rows of the report functions (getPstnCalls, getDirectRoutingCalls,
getSmsLog, getPstnBlockedUsersLog, getPstnOnlineMeetingDialoutReport) load the
same way, in the shape those functions return them: name the row type with
--type for a file of one type, or in each row with
"@odata.type": "#microsoft.graph.callRecords.pstnCallLogRow". A row replaces
the stored row with the same id.

Progress goes to standard error; a summary (records, sessions, segments,
rejected) ends the run. The exit status is 1 when any record was rejected.

On SQLite, once the files have given 64 MiB the import puts off the index of
participants and builds it once after the last file (about 2 s a million
participants): until then a server on the same store answers queries by
participant from the table, more slowly. An import stopped before its end
leaves the index to the next process that opens the store.

With --lenient, a record that holds a property or an enum member the schema
does not declare yet (Graph adds some every few months) is kept whole rather
than rejected: serve writes such values back, and callvault schema drift lists
the names kept. callvault mirror imports this way.`)
		return c.run
	},
}

type importConfig struct {
	data, tenant, kind string
	db                 string
	every              time.Duration
	lenient            bool
}

func (c *importConfig) run(ctx context.Context, files []string, std stdio) error {
	if c.tenant == "" {
		return fmt.Errorf("%w: --tenant is required", errUsage)
	}
	if _, ok := ingest.ReportKinds[c.kind]; c.kind != "" && !ok {
		return fmt.Errorf("%w: --type %q is not a report row type (pstnCallLogRow, directRoutingLogRow, smsLogRow, pstnBlockedUsersLogRow, pstnOnlineMeetingDialoutReport)", errUsage, c.kind)
	}
	if len(files) == 0 {
		return fmt.Errorf("%w: name one or more files, or - for standard input", errUsage)
	}
	store, err := openStore(ctx, c.data, c.db)
	if err != nil {
		return err
	}
	defer store.Close()

	var stats ingest.Stats
	start := time.Now()
	prog := &progress{statusLine: newStatusLine(std.err, c.every, start)}
	im := &ingest.Importer{
		Store:   store,
		Tenant:  c.tenant,
		Kind:    c.kind,
		Lenient: c.lenient,
		OnReject: func(r ingest.Rejection) {
			prog.clear()
			fmt.Fprintf(std.err, "rejected %v\n", r)
		},
		OnRecord: prog.update,
		// The files are one job: one bulk load for all of them, so that
		// what it puts off is built once, at the end.
		HoldBulk: true,
	}
	for _, name := range files {
		if err := c.importFile(ctx, im, name, std, prog, &stats); err != nil {
			prog.clear()
			err = errors.Join(err, endBulk(ctx, im, std))
			printSummary(std.err, stats, time.Since(start))
			return err
		}
	}
	prog.clear()
	if err := endBulk(ctx, im, std); err != nil {
		printSummary(std.err, stats, time.Since(start))
		return err
	}
	printSummary(std.out, stats, time.Since(start))
	if stats.Rejected > 0 {
		return errRejected
	}
	return nil
}

func (c *importConfig) importFile(ctx context.Context, im *ingest.Importer, name string, std stdio, prog *progress, stats *ingest.Stats) error {
	var src io.Reader = std.in
	var size int64 = -1
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		src = f
	}
	counted := &countingReader{r: src}
	prog.file(name, counted, size)
	in, err := gunzipped(counted) // export archive's files are gzip
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return im.Import(ctx, name, in, stats)
}

// endBulk ends the import's bulk load, saying so first: building what it
// put off takes seconds on a large store (about 2 s a million participants
// on SQLite), after the last progress line.
func endBulk(ctx context.Context, im *ingest.Importer, std stdio) error {
	if !im.InBulk() {
		return nil
	}
	fmt.Fprintln(std.err, "building the indexes the import put off until its end")
	return im.EndBulk(ctx)
}

func printSummary(w io.Writer, s ingest.Stats, took time.Duration) {
	rate := float64(s.Sessions) / max(took.Seconds(), 1e-9)
	if s.Rows > 0 {
		fmt.Fprintf(w, "imported %d report rows\n", s.Rows)
	}
	fmt.Fprintf(w, "imported %d records (%d new, %d replaced), %d sessions, %d segments; %d stale skipped, %d rejected; in %s (%.0f sessions/s)\n",
		s.Records, s.Inserted, s.Replaced, s.Sessions, s.Segments, s.Stale, s.Rejected, took.Round(time.Millisecond), rate)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// progress reports an import's progress: a line redrawn in place on a
// terminal, plain lines otherwise (logs, CI).
type progress struct {
	statusLine
	name string
	src  *countingReader
	size int64
}

func (p *progress) file(name string, src *countingReader, size int64) {
	p.name, p.src, p.size = name, src, size
}

func (p *progress) update(s ingest.Stats) {
	d, ok := p.due()
	if !ok {
		return
	}
	elapsed := d.Seconds()
	line := fmt.Sprintf("%s: %d records, %d sessions, %d rejected, %s read, %.0f records/s",
		p.name, s.Records+s.Stale, s.Sessions, s.Rejected, bytesText(p.src.n), float64(s.Records+s.Stale)/elapsed)
	if p.size > 0 && p.src.n > 0 {
		rate := float64(p.src.n) / elapsed
		eta := time.Duration(float64(p.size-p.src.n) / rate * float64(time.Second))
		line += fmt.Sprintf(", %.0f%%, ETA %s", 100*float64(p.src.n)/float64(p.size), eta.Round(time.Second))
	}
	p.show(line)
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
