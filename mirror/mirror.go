// Package mirror copies a tenant's call records, and its PSTN and direct
// routing rows, from Microsoft Graph (or anything that serves Graph's
// callRecords API) into a callvault store, so that they outlive Graph's 30
// days. Graph has no change feed: sweeps list the records by startDateTime
// over windows, and each record that is new or changed (by version and
// lastModifiedDateTime) is queued in the store, then fetched whole
// (sessions with segments, participants_v2, every page) and stored through
// the same importer as callvault import, which validates it, applies the
// version rules and fires callvault's own change notifications. The queue
// and the sweeps' checkpoints live in the store (callvault.MirrorStore),
// so a mirror killed at any point resumes where it was, and several mirror
// processes on one PostgreSQL share the work.
package mirror

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/internal/jsonx"
)

// Store is what a mirror needs of a store.
type Store interface {
	callvault.Store
	callvault.MirrorStore
}

// Stats count what a mirror did since it started.
type Stats struct {
	Listed atomic.Int64 // records seen in list pages
	Queued atomic.Int64 // of those, new or changed ones queued
	// Skipped counts claimed records the store held at their listed
	// version by then (another mirror stored them): settled unfetched.
	Skipped  atomic.Int64
	Fetched  atomic.Int64 // records fetched whole
	Inserted atomic.Int64
	Replaced atomic.Int64
	Stale    atomic.Int64
	Sessions atomic.Int64
	Rows     atomic.Int64 // report rows stored
	Failed   atomic.Int64 // fetches that failed (and were retried or parked)
	Parked   atomic.Int64 // records given up on
	NotFound atomic.Int64 // listed but 404 when fetched (gone past retention)
	Drifted  atomic.Int64 // records holding names the schema does not declare, kept
	Newest   atomic.Int64 // the latest endDateTime of a record fetched, Unix nanoseconds
}

// Lag is how far the mirror is behind the source: from the end of the
// newest call it fetched to now; 0 before the first.
func (s *Stats) Lag(now time.Time) time.Duration {
	n := s.Newest.Load()
	if n == 0 {
		return 0
	}
	return max(now.Sub(time.Unix(0, n)), 0)
}

// Done counts the queued records that are dealt with: stored, stale, gone
// or parked.
func (s *Stats) Done() int64 {
	return s.Inserted.Load() + s.Replaced.Load() + s.Stale.Load() + s.NotFound.Load() + s.Parked.Load() + s.Skipped.Load()
}

// Mirror copies one tenant from one source.
type Mirror struct {
	Client *Client
	Store  Store
	Tenant string
	Logger *slog.Logger
	// Workers fetch records at once (4 when 0): Graph's per-app limit,
	// not the machine, is what bounds a mirror.
	Workers int
	// Batch is how many records are claimed, stored and settled together
	// (16 when 0): each batch costs the store three transactions, however
	// many records it holds. A record is still stored whole or not at all.
	Batch int
	// MaxAttempts is how often a record is tried before it is parked (6).
	MaxAttempts int
	Owner       string // the lease owner's name; random when ""
	// Lease is how long a claimed record is this mirror's (2 minutes when
	// 0): after a crash, another mirror (or this one restarted) takes it
	// over once it runs out. A record that takes longer to fetch may be
	// fetched twice, which stores nothing twice.
	Lease time.Duration
	Now   func() time.Time

	Stats Stats

	driftSeen sync.Map // callvault.SchemaDrift → true: logged once
}

func (m *Mirror) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Mirror) source() string { return m.Client.Base }

func (m *Mirror) init() {
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	if m.Client.Logger == nil {
		m.Client.Logger = m.Logger
	}
	if m.Workers <= 0 {
		m.Workers = 4
	}
	if m.Batch <= 0 {
		m.Batch = 16
	}
	if m.MaxAttempts <= 0 {
		m.MaxAttempts = 6
	}
	if m.Lease <= 0 {
		m.Lease = 2 * time.Minute
	}
	if m.Owner == "" {
		var b [8]byte
		rand.Read(b[:])
		m.Owner = hex.EncodeToString(b[:])
	}
}

// listed is what a list page says of a record.
type listed struct {
	ID                   string    `json:"id"`
	Version              int64     `json:"version"`
	LastModifiedDateTime time.Time `json:"lastModifiedDateTime"`
}

// Sweep lists the records that started in [from, to), a day at a time,
// and queues those that are new or changed. With checkpoint, the days done
// are remembered under that name, and a sweep of the same window resumes
// after them.
func (m *Mirror) Sweep(ctx context.Context, from, to time.Time, checkpoint string) error {
	m.init()
	if checkpoint != "" {
		if v, err := m.Store.MirrorState(ctx, m.Tenant, m.source(), checkpoint); err != nil {
			return err
		} else if v != nil {
			var cp struct{ From, Done time.Time }
			if json.Unmarshal(v, &cp) == nil && cp.From.Equal(from) && cp.Done.After(from) {
				m.Logger.Info("sweep resumes", "name", checkpoint, "from", from, "done", cp.Done)
				from = cp.Done
			}
		}
	}
	// A window that fails does not stop the later ones: a day the source
	// cannot list (an incident, a page it cannot write) would otherwise keep
	// every newer record from the mirror for as long as it fails. The
	// checkpoint stays before the first failed window, so that a sweep
	// resumed under its name lists that window again.
	start := from
	var failed []error
	for day := from; day.Before(to); {
		end := day.Add(24 * time.Hour)
		if end.After(to) {
			end = to
		}
		if err := m.sweepWindow(ctx, day, end); err != nil {
			if ctx.Err() != nil {
				return err
			}
			m.Logger.Error("a window of the sweep failed; the later ones go on", "from", day, "to", end, "err", err)
			failed = append(failed, err)
		} else if checkpoint != "" && len(failed) == 0 {
			v, _ := json.Marshal(struct{ From, Done time.Time }{start, end})
			if err := m.Store.SetMirrorState(ctx, m.Tenant, m.source(), checkpoint, v); err != nil {
				return err
			}
		}
		day = end
	}
	return errors.Join(failed...)
}

// sweepWindow lists one window, following nextLinks, and queues what is new
// or changed.
func (m *Mirror) sweepWindow(ctx context.Context, from, to time.Time) error {
	filter := fmt.Sprintf("startDateTime ge %s and startDateTime lt %s", from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	first := "communications/callRecords?$select=id,version,lastModifiedDateTime&$filter=" + queryEscape(filter)
	err := walkPages(ctx, m.Client, first, &pageChain{}, func(page []listed) error {
		ls, versioned := m.Store.(callvault.MirrorListingStore)
		var queue []callvault.MirrorListing
		for _, r := range page {
			m.Stats.Listed.Add(1)
			changed, err := m.changed(ctx, r)
			if err != nil {
				return err
			}
			if !changed {
				continue
			}
			if versioned {
				queue = append(queue, callvault.MirrorListing{RecordID: r.ID, Version: r.Version, LastModified: r.LastModifiedDateTime})
				continue
			}
			// Without versions in the queue, queued at once, not with the
			// page: another mirror that stores and settles the record
			// between this check and the enqueue has it fetched again, and
			// the narrower that window the rarer that is.
			if err := m.Store.EnqueueMirror(ctx, m.Tenant, m.source(), []string{r.ID}, m.now()); err != nil {
				return err
			}
			m.Stats.Queued.Add(1)
		}
		// With them, queued with the page, in one transaction: the claim
		// checks the store again (docs/mirror.md, Resumable, and shared).
		if len(queue) > 0 {
			if err := ls.EnqueueMirrorListed(ctx, m.Tenant, m.source(), queue, m.now()); err != nil {
				return err
			}
			m.Stats.Queued.Add(int64(len(queue)))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list call records %s to %s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	return nil
}

// unchanged settles, as done without a fetch, the claimed items that were
// listed at a version the store now holds, and returns the others. A
// mirror checks its store before it queues a listed record, but another
// mirror on the store may have stored and settled it between that check
// and the enqueue: this check, made while the item is leased, is the one
// that holds.
func (m *Mirror) unchanged(ctx context.Context, items []callvault.MirrorItem) ([]callvault.MirrorItem, error) {
	var skipped []callvault.MirrorSettlement
	keep := items[:0:0]
	for _, it := range items {
		if it.Listed {
			changed, err := m.changed(ctx, listed{ID: it.RecordID, Version: it.Version, LastModifiedDateTime: it.LastModified})
			if err != nil {
				return nil, err
			}
			if !changed {
				skipped = append(skipped, callvault.MirrorSettlement{RecordID: it.RecordID, Done: true})
				continue
			}
		}
		keep = append(keep, it)
	}
	if len(skipped) > 0 {
		if err := m.Store.SettleMirror(ctx, m.Tenant, m.source(), m.Owner, skipped); err != nil {
			return nil, err
		}
		m.Stats.Skipped.Add(int64(len(skipped)))
	}
	return keep, nil
}

// changed reports whether the store lacks the listed version of a record.
func (m *Mirror) changed(ctx context.Context, r listed) (bool, error) {
	if r.ID == "" {
		return false, nil
	}
	h, err := m.Store.GetRecord(ctx, m.Tenant, r.ID)
	if callvault.ErrorCode(err) == callvault.ENOTFOUND {
		return true, nil
	} else if err != nil {
		return false, err
	}
	if h.Version != r.Version {
		return h.Version < r.Version, nil
	}
	var stored struct {
		LastModifiedDateTime time.Time `json:"lastModifiedDateTime"`
	}
	json.Unmarshal(h.Body, &stored)
	return !stored.LastModifiedDateTime.Equal(r.LastModifiedDateTime), nil
}

// Drain fetches the queued records with Workers goroutines until the queue
// is empty (once: records leased by another mirror, or by one that died,
// and records waiting for a retry are waited for) or ctx is done (follow:
// it then waits for more).
func (m *Mirror) Drain(ctx context.Context, follow bool) error {
	if follow {
		return m.DrainUntil(ctx, nil)
	}
	return m.DrainUntil(ctx, closed)
}

// closed is a channel that is closed.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// DrainUntil fetches the queued records, waiting for more, until swept is
// closed; it then goes on until the queue is empty, as Drain(ctx, false)
// does, and returns. It stops early when ctx is done. A backfill runs it
// while its sweep queues records and closes swept when the sweep is done:
// the workers never stop between the two, which they did while a record of
// many pages, held back by its own bucket, was still being fetched
// (docs/mirror.md, Performance). A nil swept is never closed (follow).
func (m *Mirror) DrainUntil(ctx context.Context, swept <-chan struct{}) error {
	m.init()
	for {
		if err := m.drain(ctx, swept); err != nil || swept == nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		queued, _, err := m.Store.MirrorBacklog(ctx, m.Tenant, m.source())
		if err != nil || queued == 0 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(m.Lease/4, time.Second)):
		}
	}
}

// drain runs a pipeline: one claimer leases up to Batch due items at a
// time, Workers fetchers fetch them, and one storer stores whatever has
// been fetched in one import (one transaction) and settles it in another.
// A record so costs the store two transactions per batch rather than three
// of its own, which is what bounded a mirror sharing a machine with its
// source (docs/mirror.md, Performance).
func (m *Mirror) drain(ctx context.Context, swept <-chan struct{}) error {
	claimed := make(chan callvault.MirrorItem)
	fetched := make(chan fetchResult, m.Workers)
	errc := make(chan error, 2)

	go func() {
		defer close(claimed)
		if err := m.claim(ctx, swept, claimed); err != nil {
			errc <- err
		}
	}()
	var fetchers sync.WaitGroup
	for range m.Workers {
		fetchers.Add(1)
		go func() {
			defer fetchers.Done()
			for it := range claimed {
				// The record in hand is finished even when ctx ends: a
				// SIGTERM stops the mirror between records, not within one.
				record, err := m.Fetch(context.WithoutCancel(ctx), it.RecordID)
				fetched <- fetchResult{item: it, record: record, err: err}
			}
		}()
	}
	go func() { fetchers.Wait(); close(fetched) }()

	// The storer: wait for one fetched record, then take whatever else is
	// ready, up to Batch records or batchBytes, so that a batch never waits
	// for a slow fetch and memory stays bounded whatever the records' size.
	var storeErr error
	for first := range fetched {
		batch := []fetchResult{first}
		size := len(first.record)
	more:
		for len(batch) < m.Batch && size < batchBytes {
			select {
			case r, ok := <-fetched:
				if !ok {
					break more
				}
				batch = append(batch, r)
				size += len(r.record)
			default:
				break more
			}
		}
		if storeErr != nil {
			continue // drain the pipeline; the leases run out and others take the items
		}
		settled := m.storeBatch(context.WithoutCancel(ctx), batch)
		if err := m.Store.SettleMirror(context.WithoutCancel(ctx), m.Tenant, m.source(), m.Owner, settled); err != nil {
			storeErr = err
		}
	}
	if storeErr != nil {
		return storeErr
	}
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// claim leases due items and hands them to the fetchers, until the queue
// is empty once swept is closed, or ctx is done (it waits for more until
// then; a nil swept is never closed). Items leased
// but not handed out when ctx ends are released at once, without counting
// an attempt, so that a restarted mirror need not wait out the lease.
func (m *Mirror) claim(ctx context.Context, swept <-chan struct{}, claimed chan<- callvault.MirrorItem) error {
	for ctx.Err() == nil {
		items, err := m.Store.ClaimMirror(ctx, m.Tenant, m.source(), m.Owner, m.now(), m.Lease, m.Batch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(items) > 0 {
			if items, err = m.unchanged(context.WithoutCancel(ctx), items); err != nil {
				return err
			}
			if len(items) == 0 {
				continue // all stored already: claim more
			}
		}
		if len(items) == 0 {
			select {
			case <-swept:
				return nil
			default:
			}
			select {
			case <-ctx.Done():
			case <-swept:
			case <-time.After(time.Second):
			}
			continue
		}
		for i, it := range items {
			select {
			case claimed <- it:
			case <-ctx.Done():
				released := make([]callvault.MirrorSettlement, 0, len(items)-i)
				for _, it := range items[i:] {
					released = append(released, callvault.MirrorSettlement{RecordID: it.RecordID, RetryAt: m.now()})
				}
				return m.Store.SettleMirror(context.WithoutCancel(ctx), m.Tenant, m.source(), m.Owner, released)
			}
		}
	}
	return nil
}

// batchBytes bounds the records of one batch (but for its first), as the
// importer bounds its own batches.
const batchBytes = 8 << 20

// fetchResult is a claimed item and what fetching it gave.
type fetchResult struct {
	item   callvault.MirrorItem
	record []byte
	err    error
}

// storeBatch stores the fetched records of a batch in one import and
// returns what became of every item.
func (m *Mirror) storeBatch(ctx context.Context, batch []fetchResult) []callvault.MirrorSettlement {
	var stream bytes.Buffer
	var index []int // stream position → batch position
	errs := make([]error, len(batch))
	for i, r := range batch {
		if r.err != nil {
			errs[i] = r.err
			continue
		}
		stream.Write(r.record)
		stream.WriteByte('\n')
		index = append(index, i)
		errs[i] = errNotStored
	}
	if len(index) > 0 {
		var stats ingest.Stats
		im := &ingest.Importer{
			Store: m.Store, Tenant: m.Tenant, RecordsOnly: true, Workers: 1,
			// The source's schema may be newer than callvault's: what it
			// does not declare is kept and served back, not refused.
			Lenient: true, OnDrift: m.noteDrift,
			OnResult: func(r ingest.Result) {
				if r.Index < 0 || r.Index >= len(index) {
					return
				}
				i := index[r.Index]
				if r.Err != nil {
					errs[i] = &rejected{reason: r.Err.Error()}
					return
				}
				errs[i] = nil
				switch r.Outcome {
				case callvault.Inserted:
					m.Stats.Inserted.Add(1)
				case callvault.Replaced:
					m.Stats.Replaced.Add(1)
				case callvault.Stale:
					m.Stats.Stale.Add(1)
				}
			},
		}
		if err := im.Import(ctx, "mirror", &stream, &stats); err != nil {
			for _, i := range index {
				if errs[i] == errNotStored {
					errs[i] = err
				}
			}
		}
		m.Stats.Sessions.Add(int64(stats.Sessions))
	}
	settled := make([]callvault.MirrorSettlement, len(batch))
	for i, r := range batch {
		settled[i] = m.settle(r.item, errs[i])
	}
	return settled
}

// noteDrift counts and logs, once per name, the schema drift of a record.
func (m *Mirror) noteDrift(r *callvault.Record) {
	m.Stats.Drifted.Add(1)
	for _, d := range r.Drift {
		if _, seen := m.driftSeen.LoadOrStore(d, true); !seen {
			m.Logger.Warn("the source sent what callvault's schema does not declare: kept and served back (callvault schema drift lists it)",
				"kind", d.Kind, "type", d.Type, "name", d.Name, "record", r.ID)
		}
	}
}

// errNotStored is the error of a fetched record the import gave no result
// for, which it always does; it is there so that no record is settled as
// done by mistake.
var errNotStored = errors.New("the import gave no result for the record")

// settle says what becomes of an item whose fetch and store ended in err
// (nil: stored).
func (m *Mirror) settle(it callvault.MirrorItem, err error) callvault.MirrorSettlement {
	if err == nil {
		return callvault.MirrorSettlement{RecordID: it.RecordID, Done: true}
	}
	if NotFound(err) && it.Attempts+1 >= m.MaxAttempts {
		// Listed, then not found however often asked: gone (past the
		// source's retention, or deleted), nothing to keep. A 404 before
		// that is tried again: Graph answers 404 for a while for records
		// it is still writing.
		m.Stats.NotFound.Add(1)
		m.Logger.Warn("record listed but not found when fetched: gone", "record", it.RecordID, "attempts", it.Attempts+1)
		return callvault.MirrorSettlement{RecordID: it.RecordID, Done: true}
	}
	m.Stats.Failed.Add(1)
	s := callvault.MirrorSettlement{RecordID: it.RecordID, Error: err.Error()}
	var rej *rejected
	if it.Attempts+1 >= m.MaxAttempts || errors.As(err, &rej) {
		m.Stats.Parked.Add(1)
		s.RetryAt = callvault.Parked
		m.Logger.Error("record parked: it failed too often, or the store refused it", "record", it.RecordID, "attempts", it.Attempts+1, "err", err)
	} else {
		s.RetryAt = m.now().Add(backoff(it.Attempts + 2))
		m.Logger.Warn("record fetch failed; it will be tried again", "record", it.RecordID, "attempt", it.Attempts+1, "retry_at", s.RetryAt, "err", err)
	}
	return s
}

// rejected is a record the importer refused: trying again changes nothing.
type rejected struct{ reason string }

func (r *rejected) Error() string { return "the record was refused: " + r.reason }

// Fetch returns a record whole, in the wire shape callvault import takes:
// the record with every page of its sessions (with segments) and of its
// participants_v2 inline.
func (m *Mirror) Fetch(ctx context.Context, id string) ([]byte, error) {
	base := "communications/callRecords/" + url.PathEscape(id)
	body, err := m.Client.Get(ctx, base+"?$expand="+queryEscape("sessions($expand=segments),participants_v2"))
	if err != nil {
		return nil, err
	}
	// Most records come whole in one answer, which the importer takes as
	// it is (it skips the answer's annotations): only a record with more
	// pages is decoded, joined and written again.
	o, ok := jsonx.NewObject(body)
	if !ok || !json.Valid(body) {
		return nil, fmt.Errorf("record %s: the answer is not a JSON object", id)
	}
	body = oneLine(body)
	var end []byte
	paged := false
	for mem, ok := o.Next(); ok; mem, ok = o.Next() {
		switch string(mem.Key) {
		case "id":
			// The item is settled by the id asked for: an answer that holds
			// another record would settle it unstored.
			var got string
			if json.Unmarshal(mem.Value, &got) == nil && !strings.EqualFold(got, id) {
				return nil, fmt.Errorf("record %s: the source answered with the record %q", id, got)
			}
		case "endDateTime":
			end = mem.Value
		case "sessions@odata.nextLink", "participants_v2@odata.nextLink":
			paged = true
		}
	}
	if paged {
		if body, err = m.joinPages(ctx, id, body); err != nil {
			return nil, err
		}
	}
	m.Stats.Fetched.Add(1)
	var t time.Time
	if json.Unmarshal(end, &t) == nil && !t.IsZero() {
		for n := t.UnixNano(); ; {
			old := m.Stats.Newest.Load()
			if n <= old || m.Stats.Newest.CompareAndSwap(old, n) {
				break
			}
		}
	}
	return body, nil
}

// joinPages follows the nextLinks of a record's sessions and participants
// and returns the record with every page inline.
func (m *Mirror) joinPages(ctx context.Context, id string, body []byte) ([]byte, error) {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(body, &rec); err != nil {
		return nil, fmt.Errorf("record %s: the answer is not a JSON object: %w", id, err)
	}
	// The pages of both expansions, and the record's own answer, must fit
	// in what a record may hold.
	chain := pageChain{limit: ingest.MaxRecordSize, bytes: int64(len(body))}
	for _, nav := range []string{"sessions", "participants_v2"} {
		chain.seen, chain.empty = nil, 0 // each expansion is a walk of its own
		if err := m.rest(ctx, rec, nav, &chain); err != nil {
			return nil, fmt.Errorf("record %s: %s: %w", id, nav, err)
		}
	}
	for k := range rec {
		if k == "@odata.context" || (len(k) > 0 && k[0] != '@' && strings.Contains(k, "@odata.")) {
			delete(rec, k) // annotations of the answer, not of the record
		}
	}
	return json.Marshal(rec)
}

// rest follows nav@odata.nextLink to the end, appending every page to
// rec[nav], as far as chain lets it.
func (m *Mirror) rest(ctx context.Context, rec map[string]json.RawMessage, nav string, chain *pageChain) error {
	var items []json.RawMessage
	if raw, ok := rec[nav]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
	}
	var next string
	if raw, ok := rec[nav+"@odata.nextLink"]; ok {
		json.Unmarshal(raw, &next)
	}
	if next == "" {
		return nil
	}
	err := walkPages(ctx, m.Client, next, chain, func(page []json.RawMessage) error {
		items = append(items, page...)
		return nil
	})
	if err != nil {
		return err
	}
	all, err := json.Marshal(items)
	if err != nil {
		return err
	}
	rec[nav] = all
	return nil
}

// Reports copies the rows of the report functions for [from, to), a day at
// a time (the functions' own bounds), following their $skip nextLinks.
// Rows are keyed in the store, so pulling a day again adds nothing twice.
func (m *Mirror) Reports(ctx context.Context, from, to time.Time, functions map[string]string) error {
	m.init()
	// A day the source cannot answer does not stop the others, as in a
	// sweep: pulling a day again adds nothing twice.
	var failed []error
	for day := from; day.Before(to); day = day.Add(24 * time.Hour) {
		end := day.Add(24 * time.Hour)
		if end.After(to) {
			end = to
		}
		for fn, kind := range functions {
			if err := m.reportDay(ctx, fn, kind, day, end); err != nil {
				if ctx.Err() != nil {
					return err
				}
				m.Logger.Error("a day of report rows failed; the others go on", "function", fn, "day", day.Format(time.DateOnly), "err", err)
				failed = append(failed, err)
			}
		}
	}
	return errors.Join(failed...)
}

// reportDay copies the rows of the report function fn, whose rows are of
// kind, for [day, end).
func (m *Mirror) reportDay(ctx context.Context, fn, kind string, day, end time.Time) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("%s for %s: %w", fn, day.Format(time.DateOnly), err)
		}
	}()
	first := fmt.Sprintf("communications/callRecords/%s(fromDateTime=%s,toDateTime=%s)", fn,
		day.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	return walkPages(ctx, m.Client, first, &pageChain{}, func(page []json.RawMessage) error {
		if len(page) == 0 {
			return nil
		}
		var lines bytes.Buffer
		for _, row := range page {
			lines.Write(oneLine(row))
			lines.WriteByte('\n')
		}
		var stats ingest.Stats
		var rej error
		im := &ingest.Importer{Store: m.Store, Tenant: m.Tenant, Kind: kind, Workers: 1,
			OnReject: func(r ingest.Rejection) { rej = &rejected{reason: r.Error()} }}
		if err := im.Import(ctx, fn, &lines, &stats); err != nil {
			return err
		}
		if rej != nil {
			m.Logger.Error("report row refused", "function", fn, "err", rej)
		}
		m.Stats.Rows.Add(int64(stats.Rows))
		return nil
	})
}

// ReportFunctions are the report functions a mirror copies by default, with
// the row type each returns.
var ReportFunctions = map[string]string{
	"getPstnCalls":          "pstnCallLogRow",
	"getDirectRoutingCalls": "directRoutingLogRow",
}

// queryEscape escapes a query option's value with %20 for spaces: OData
// reads a '+' as itself, not as a space.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
