package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/quality"
)

// Stats counts what an import did.
type Stats struct {
	Records  int // stored: inserted or replaced
	Inserted int
	Replaced int
	Stale    int // skipped: the store holds a higher version
	Sessions int // sessions of the stored records
	Segments int
	Rows     int // report rows stored (new or replaced)
	Rejected int
}

// Rejection is one record an import refused, and why.
type Rejection struct {
	Source string // the file name, or "-" for standard input
	Line   int
	Err    error
}

func (r Rejection) Error() string { return fmt.Sprintf("%s:%d: %v", r.Source, r.Line, r.Err) }

// Result is what an import did with one object of a stream: a call record
// stored or stale (Outcome), or an object rejected (Err). Report rows that
// are stored have no Result.
type Result struct {
	Source  string
	Line    int    // the line the object starts on
	Index   int    // the object's 0-based position in the stream
	ID      string // the record's id, when the object got as far as having one
	Outcome callvault.PutOutcome
	Err     error // why the object was rejected; nil when it was stored or stale
}

// BatchStore is callvault.BatchStore, declared beside callvault.Store with
// the other optional capabilities of a store.
//
// Deprecated: use callvault.BatchStore.
type BatchStore = callvault.BatchStore

// Importer stores the records of import streams for one tenant. Each record
// is stored whole or not at all; a rejected record does not stop the stream.
//
// Records are validated on several goroutines and, when the Store is a
// callvault.BatchStore, stored in batches of one transaction each; they
// are counted, and OnRecord and OnResult called, only once their
// transaction has committed, so a crash loses nothing that was reported
// imported. The callbacks are called on the goroutine that called Import,
// in stream order.
type Importer struct {
	Store  callvault.Store
	Tenant string
	// Kind is the report row type of the stream's objects (see ReportKinds),
	// or "" for call records. An object naming its type with "@odata.type"
	// is read as that type whatever Kind says.
	Kind string
	// RecordsOnly rejects the objects that name a report row type: the
	// stream holds call records and nothing else.
	RecordsOnly bool
	// Lenient keeps what records hold that the schema does not declare
	// (Normalizer.Lenient) and notes it in the store's DriftStore before
	// the record is stored; without a DriftStore it has no effect.
	Lenient bool

	OnReject func(Rejection)   // called for each rejected record
	OnRecord func(stats Stats) // called after each record or batch of them, for progress
	OnResult func(Result)      // called for each call record stored or stale, and each object rejected; optional
	// OnDrift is called with each record that holds drift, before it is
	// stored; optional.
	OnDrift func(*callvault.Record)
	// Workers is how many goroutines validate records; 0 means GOMAXPROCS.
	Workers int
	// BatchBytes and BatchRecords bound a batch of records stored in one
	// transaction (by the size of their input, and by their number); 0
	// means 8 MiB and 2,000.
	BatchBytes   int
	BatchRecords int
	// BulkAfter is how many batches an import stores before it begins a
	// bulk load, when the Store is a callvault.BulkLoader; 0 means
	// DefaultBulkAfter, and a negative value never.
	BulkAfter int
	// HoldBulk keeps a bulk load open when Import returns, so that the
	// imports of one job (callvault import's files) count their batches
	// together and share one load; EndBulk ends it. Without it, each
	// Import ends its own.
	HoldBulk bool

	rows    []callvault.ReportRow
	rowKind string
	budget  *budget  // of the Import running
	bulk    bulkLoad // of the Imports so far, when HoldBulk
}

// rowBatch is how many report rows go to the store in one transaction.
const rowBatch = 500

const (
	defaultBatchBytes   = 8 << 20
	defaultBatchRecords = 2000
	// queueLength bounds how many objects are read but not yet stored; the
	// budget below bounds their bytes: memory stays flat whatever the
	// stream's length.
	queueLength = 4096
	// aheadBatches is how many batches' worth of input may be read and
	// validated beyond the batch being stored: while one batch commits, the
	// validators fill the next, so the store never waits for them (with 64
	// objects in flight, as before, the validators stopped a fraction of
	// the way into the next batch and the store then waited for the rest).
	// Four, since validating includes compiling render scripts: with two,
	// the store waited on the validators again (252,168 sessions: 24.6 to
	// 27.0 s against 23.5 to 24.9 s, for about 60 MiB more at the peak).
	aheadBatches = 4
)

// DefaultBulkAfter is how many batches an import stores before it begins a
// bulk load: 64 MiB of input at the default batch size, so that a small
// import, as POST /ingest's or the mirror's, never pays the rebuild at the
// end of one.
const DefaultBulkAfter = 8

// entry is one object of the stream on its way through the pipeline.
type entry struct {
	index int
	raw   []byte
	line  int
	size  int
	// charge is what the entry holds of the Importer's budget until it is
	// stored or rejected: its size, but at most a batch's bytes, so that an
	// entry always fits beside a batch not yet full and the pipeline
	// cannot wait on itself.
	charge int
	kind   string // a report row type, or "" for a call record
	err    error  // a read error (*SyntaxError ends the stream) or a validation error
	fatal  error  // a read error that is not the input's fault
	rec    *callvault.Record
	row    callvault.ReportRow
	done   chan struct{} // closed when a worker has validated the object
}

// Import reads every record of src into the store and adds to stats. It
// returns an error only when the stream or the store fails, not for rejects.
func (im *Importer) Import(ctx context.Context, source string, src io.Reader, stats *Stats) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := im.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ordered := make(chan *entry, queueLength) // in stream order, to the store
	work := make(chan *entry, queueLength)    // to the validators, in any order
	im.budget = newBudget((1 + aheadBatches) * im.batchBytes())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		im.read(ctx, source, src, ordered, work)
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			im.validate(ctx, work)
		}()
	}
	err := im.store(ctx, source, ordered, stats)
	cancel()
	im.budget.close() // a reader waiting for room gives up
	// Let the goroutines see the cancellation; the reader may still sit in a
	// Read of src, which ends with src.
	go func() {
		for range ordered {
		}
	}()
	wg.Wait()
	return err
}

// read splits src into objects and hands each to the validators and, in
// order, to the store.
func (im *Importer) read(ctx context.Context, source string, src io.Reader, ordered, work chan<- *entry) {
	defer close(ordered)
	defer close(work)
	rd := NewReader(src)
	for i := 0; ; i++ {
		raw, line, err := rd.Next()
		if err == io.EOF {
			return
		}
		it := &entry{index: i, raw: raw, line: line, size: len(raw), done: make(chan struct{})}
		it.charge = min(it.size, im.batchBytes())
		if !im.budget.acquire(it.charge) {
			return
		}
		var se *SyntaxError
		switch {
		case errors.As(err, &se):
			it.err, it.line = se, se.Line
			close(it.done)
		case err != nil:
			it.fatal = fmt.Errorf("read %s: %w", source, err)
			close(it.done)
		}
		select {
		case ordered <- it:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
		select {
		case work <- it:
		case <-ctx.Done():
			return
		}
	}
}

// validate turns raw objects into records or report rows.
func (im *Importer) validate(ctx context.Context, work <-chan *entry) {
	n := NewNormalizer()
	if _, ok := im.Store.(callvault.DriftStore); ok && im.Lenient {
		n.Lenient()
	}
	for it := range work {
		if ctx.Err() != nil {
			close(it.done)
			continue
		}
		it.kind = im.Kind
		// The syntax is checked once, before anything reads the object; the
		// same scan indexes it for checkedRecord.
		if err := n.checkSyntax(it.raw); err != nil {
			it.err = err
		} else if k, ok := reportKind(it.raw); ok {
			it.kind = k
			if im.RecordsOnly {
				it.err = (&Error{Reason: "'" + k + "' is a report row: only call records are accepted here"}).at(key("@odata.type")).finish()
			}
		}
		if it.err == nil {
			if it.kind != "" {
				it.row, it.err = n.ReportRow(it.kind, it.raw)
			} else {
				if it.rec, it.err = n.checkedRecord(im.Tenant, it.raw); it.err == nil {
					if it.rec.Drift == nil {
						// A drifted body is served the long way, by the
						// encoder of a model that knows its drift.
						CompileScripts(it.rec)
					}
					it.rec.Quality = quality.Record(it.rec) // stored with the record
				}
			}
		}
		it.raw = nil
		close(it.done)
	}
}

// store takes the validated objects in stream order and stores them, in a
// bulk load once it has stored im.BulkAfter batches.
func (im *Importer) store(ctx context.Context, source string, ordered <-chan *entry, stats *Stats) (err error) {
	if !im.HoldBulk {
		defer func() {
			if endErr := im.EndBulk(ctx); endErr != nil {
				err = errors.Join(err, endErr)
			}
		}()
	}
	batchStore, _ := im.Store.(callvault.BatchStore)
	maxBytes, maxRecords := im.batchBytes(), im.BatchRecords
	if maxRecords <= 0 {
		maxRecords = defaultBatchRecords
	}
	var batch []*entry
	batchBytes := 0
	flushRecords := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := im.putRecords(ctx, batchStore, source, batch, stats)
		for _, it := range batch {
			im.budget.release(it.charge)
		}
		clear(batch)
		batch, batchBytes = batch[:0], 0
		if err != nil {
			return err
		}
		return im.bulk.stored(ctx, im)
	}
	for it := range ordered {
		select {
		case <-it.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if it.fatal != nil || it.err != nil || it.kind != "" || batchStore == nil {
			im.budget.release(it.charge) // it does not join a batch
		}
		if it.fatal != nil {
			if err := flushRecords(); err != nil {
				return err
			}
			return it.fatal
		}
		if it.err != nil {
			// Records before a rejection are stored (and reported) first, so
			// callbacks come in stream order.
			if err := flushRecords(); err != nil {
				return err
			}
			im.rejectItem(source, it, stats)
			if _, ok := it.err.(*SyntaxError); ok {
				return im.flush(ctx, stats)
			}
			continue
		}
		if it.kind != "" {
			if err := im.row(ctx, it.kind, it.row, stats); err != nil {
				return err
			}
			continue
		}
		if it.rec.Drift != nil {
			if err := im.noteDrift(ctx, it); err != nil {
				return err
			}
		}
		if batchStore == nil {
			if err := im.putRecord(ctx, source, it, stats); err != nil {
				return err
			}
			continue
		}
		batch = append(batch, it)
		batchBytes += it.size
		if batchBytes >= maxBytes || len(batch) >= maxRecords {
			if err := flushRecords(); err != nil {
				return err
			}
		}
	}
	if err := flushRecords(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return im.flush(ctx, stats)
}

// noteDrift notes the schema drift of a record in the store, before the
// record is stored, so that a server never holds a kept value it does not
// know to write.
func (im *Importer) noteDrift(ctx context.Context, it *entry) error {
	ds, _ := im.Store.(callvault.DriftStore)
	if ds == nil {
		return nil // not lenient: Drift is always nil
	}
	now := time.Now().UTC()
	seen := make([]callvault.DriftSeen, len(it.rec.Drift))
	for i, d := range it.rec.Drift {
		seen[i] = callvault.DriftSeen{SchemaDrift: d, Count: 1, FirstSeen: now, LastSeen: now, Tenant: it.rec.Tenant, RecordID: it.rec.ID}
	}
	if err := ds.NoteDrift(ctx, seen); err != nil {
		return fmt.Errorf("record %s: note its schema drift: %w", it.rec.ID, err)
	}
	if im.OnDrift != nil {
		im.OnDrift(it.rec)
	}
	return nil
}

func (im *Importer) batchBytes() int {
	if im.BatchBytes > 0 {
		return im.BatchBytes
	}
	return defaultBatchBytes
}

// budget bounds the bytes of the objects read but not yet stored.
type budget struct {
	mu     sync.Mutex
	room   sync.Cond
	used   int
	max    int
	closed bool
}

func newBudget(max int) *budget {
	b := &budget{max: max}
	b.room.L = &b.mu
	return b
}

// acquire waits until n more bytes fit, and reports false if the budget
// was closed first.
func (b *budget) acquire(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for !b.closed && b.used+n > b.max {
		b.room.Wait()
	}
	if b.closed {
		return false
	}
	b.used += n
	return true
}

func (b *budget) release(n int) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.room.Broadcast()
}

// close wakes the waiters and makes every later acquire fail.
func (b *budget) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.room.Broadcast()
}

// putRecord stores one record in a transaction of its own.
func (im *Importer) putRecord(ctx context.Context, source string, it *entry, stats *Stats) error {
	outcome, err := im.Store.PutRecord(ctx, it.rec)
	if err != nil {
		if callvault.ErrorCode(err) == callvault.EINVALID {
			it.err = err
			im.rejectItem(source, it, stats)
			return nil
		}
		return fmt.Errorf("%s:%d: store record %s: %w", source, it.line, it.rec.ID, err)
	}
	im.stored(source, it, outcome, stats)
	if im.OnRecord != nil {
		im.OnRecord(*stats)
	}
	return nil
}

// putRecords stores a batch of records in one transaction.
func (im *Importer) putRecords(ctx context.Context, bs callvault.BatchStore, source string, batch []*entry, stats *Stats) error {
	recs := make([]*callvault.Record, len(batch))
	for i, it := range batch {
		recs[i] = it.rec
	}
	outcomes, errs, err := bs.PutRecords(ctx, recs)
	if err != nil {
		first, last := batch[0], batch[len(batch)-1]
		return fmt.Errorf("%s:%d-%d: store %d records: %w", source, first.line, last.line, len(batch), err)
	}
	var full error // a record refused for lack of room is the store failing, not the record
	for i, it := range batch {
		if errs[i] != nil && callvault.ErrorCode(errs[i]) == callvault.EFULL {
			if full == nil {
				full = fmt.Errorf("%s:%d: store record %s: %w", source, it.line, it.rec.ID, errs[i])
			}
			continue
		}
		if errs[i] != nil {
			it.err = errs[i]
			im.rejectItem(source, it, stats)
			continue
		}
		im.stored(source, it, outcomes[i], stats)
	}
	if im.OnRecord != nil {
		im.OnRecord(*stats)
	}
	return full
}

// stored counts a record whose transaction has committed.
func (im *Importer) stored(source string, it *entry, outcome callvault.PutOutcome, stats *Stats) {
	rec := it.rec
	switch outcome {
	case callvault.Inserted:
		stats.Inserted++
	case callvault.Replaced:
		stats.Replaced++
	case callvault.Stale:
		stats.Stale++
	}
	if outcome != callvault.Stale {
		stats.Records++
		stats.Sessions += len(rec.Sessions)
		for _, s := range rec.Sessions {
			stats.Segments += len(s.Segments)
		}
	}
	if im.OnResult != nil {
		im.OnResult(Result{Source: source, Line: it.line, Index: it.index, ID: rec.ID, Outcome: outcome})
	}
}

func (im *Importer) rejectItem(source string, it *entry, stats *Stats) {
	stats.Rejected++
	im.reject(Rejection{Source: source, Line: it.line, Err: it.err})
	if im.OnResult != nil {
		res := Result{Source: source, Line: it.line, Index: it.index, Err: it.err}
		if it.rec != nil {
			res.ID = it.rec.ID
		}
		im.OnResult(res)
	}
}

// row queues a validated report row; rows go to the store in batches of
// one kind.
func (im *Importer) row(ctx context.Context, kind string, row callvault.ReportRow, stats *Stats) error {
	if kind != im.rowKind || len(im.rows) >= rowBatch {
		if err := im.flush(ctx, stats); err != nil {
			return err
		}
	}
	im.rowKind = kind
	im.rows = append(im.rows, row)
	return nil
}

// flush stores the queued report rows.
func (im *Importer) flush(ctx context.Context, stats *Stats) error {
	if len(im.rows) == 0 {
		return nil
	}
	if _, err := im.Store.PutReportRows(ctx, im.Tenant, im.rowKind, im.rows); err != nil {
		return fmt.Errorf("store %d %s rows: %w", len(im.rows), im.rowKind, err)
	}
	stats.Rows += len(im.rows)
	im.rows = im.rows[:0]
	if im.OnRecord != nil {
		im.OnRecord(*stats)
	}
	return nil
}

func (im *Importer) reject(r Rejection) {
	if im.OnReject != nil {
		im.OnReject(r)
	}
}

// InBulk reports whether the Importer's imports have begun a bulk load
// that has not ended: with HoldBulk, whether EndBulk has work to do.
func (im *Importer) InBulk() bool { return im.bulk.finish != nil }

// EndBulk ends the bulk load that the Importer's imports began, if any,
// even when ctx is done: what it put off is restored before it returns
// (with SQLite, the index of participants is built). The next import
// counts its batches from zero.
func (im *Importer) EndBulk(ctx context.Context) error {
	return im.bulk.end(ctx)
}

// bulkLoad is the bulk load of an import, or of the imports of one job
// (Importer.HoldBulk): begun once they have stored Importer.BulkAfter
// batches, ended when the import ends however it ends, or by EndBulk.
type bulkLoad struct {
	batches int
	finish  func(context.Context) error
}

// stored counts a batch stored, and begins the bulk load at the one that
// makes Importer.BulkAfter.
func (b *bulkLoad) stored(ctx context.Context, im *Importer) error {
	b.batches++
	after := im.BulkAfter
	if after == 0 {
		after = DefaultBulkAfter
	}
	loader, ok := im.Store.(callvault.BulkLoader)
	if !ok || after < 0 || b.batches != after {
		return nil
	}
	finish, err := loader.BeginBulk(ctx)
	if err != nil {
		return fmt.Errorf("begin a bulk load: %w", err)
	}
	b.finish = finish
	return nil
}

// end ends the bulk load, if one was begun, also when ctx is done, and
// starts the count of batches again.
func (b *bulkLoad) end(ctx context.Context) error {
	finish := b.finish
	*b = bulkLoad{}
	if finish == nil {
		return nil
	}
	return finish(context.WithoutCancel(ctx))
}
