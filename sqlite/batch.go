package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strconv"

	"github.com/callvault/callvault"
	driver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// batchCacheKiB is the page cache of the writer's connection once it has
// stored a batch.
const batchCacheKiB = 32 << 10

// bulkWALBytes is how large the WAL grows, once the writer's connection has
// stored a batch, before the writer itself copies what the checkpointer
// (checkpoint.go) has not yet copied into the file: twice this. SQLite's
// default is 1,000 pages, 16 MiB on pages of 16 KiB. Measured, with the
// writer doing every checkpoint, on 292,000 sessions (bench/cmd/importbench
// raw): on 16 KiB pages 120 µs of CPU a session with the default, 115 with
// 256 MiB.
const bulkWALBytes = 256 << 20

// PutRecords stores many records in one transaction, which is what makes a
// bulk import fast: one commit, one write of each touched page, instead of
// one per record. Each record is still stored whole or not at all, and each
// is still idempotent by id and version, exactly as PutRecord.
//
// outcomes[i] is what was done with records[i]; when errs[i] is not nil the
// record was refused and nothing of it written (its outcome is 0). err is a
// failure of the whole batch (the disk, the context): then nothing of the
// batch is stored and outcomes and errs are nil. A record is stored only
// once PutRecords has returned with a nil err: a crash before that loses
// the whole batch, and nothing that was reported stored.
func (db *DB) PutRecords(ctx context.Context, records []*callvault.Record) (outcomes []callvault.PutOutcome, errs []error, err error) {
	if len(records) == 0 {
		return nil, nil, nil
	}
	defer wrap(&err, "sqlite: put %d records", len(records))
	// First without savepoints: a SAVEPOINT a record costs a copy of every
	// page the record touches that the batch had already written, in the
	// statement journal, a temporary file (measured on 4 KiB pages: a fifth
	// of the CPU time of a batch into a small database; it grows with the
	// page size). What can refuse a record
	// without the database (its key, its times) is checked before it is
	// written; the database itself refuses a record almost never (a body
	// over SQLite's 1 GB limit). When it does, the whole batch is rolled back
	// and stored again with a savepoint a record, so that only that record
	// is refused and the others are stored.
	outcomes, errs, retry, err := db.putBatch(ctx, records, false)
	if err == nil && retry {
		outcomes, errs, _, err = db.putBatch(ctx, records, true)
	}
	if err != nil {
		return nil, nil, err
	}
	db.noteWALGrowth(ctx)
	return outcomes, errs, nil
}

// noteWALGrowth adds the pages the writer has appended to the WAL since it
// last looked. Each quarter of bulkWALBytes it pokes the checkpointer; each
// bulkWALBytes it checkpoints itself, after the checkpointer's run, so that
// the WAL starts over with the writer's next transaction. Not a
// checkpoint after every batch: a page that many batches touch (an index
// leaf) is copied once per checkpoint, and on a million sessions a
// checkpoint a batch cost more CPU than it saved the writer.
func (db *DB) noteWALGrowth(ctx context.Context) {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	pages := 0
	conn.Raw(func(dc any) error {
		if s, ok := dc.(driver.DBStatus); ok {
			pages, _, _ = s.Status(driver.DBStatusCacheWrite, true)
		}
		return nil
	})
	c := db.checkpointer()
	if c == nil {
		return
	}
	db.walPages += pages
	db.ownPages += pages
	if db.walPages >= db.bulkWAL/db.pageSize/4 {
		db.walPages = 0
		c.poke()
	}
	if db.ownPages >= db.bulkWAL/db.pageSize {
		db.ownPages = 0
		c.mu.Lock()
		_, err := conn.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
		c.mu.Unlock()
		if err != nil {
			slog.Warn("sqlite: checkpoint", "err", err)
		}
	}
}

// checkpointer starts the checkpointer on the first bulk write.
func (db *DB) checkpointer() *checkpointer {
	db.ckptOnce.Do(func() {
		c, err := sql.Open("sqlite", db.dsnCkpt)
		if err != nil {
			return
		}
		c.SetMaxOpenConns(1)
		db.ckpt = newCheckpointer(c)
	})
	return db.ckpt
}

// putBatch stores records in one transaction. With savepoints, each record
// is written under a SAVEPOINT of its own, so a record that fails (a bad
// key, a time out of range, a row SQLite refuses) is rolled back alone and
// the others go on. Without, a record that the database refuses rolls back
// the whole transaction and putBatch returns retry: nothing is stored.
func (db *DB) putBatch(ctx context.Context, records []*callvault.Record, savepoints bool) (outcomes []callvault.PutOutcome, errs []error, retry bool, err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, false, err
	}
	defer tx.Rollback()
	// A batch touches many pages more than once: keep them all in the
	// writer's cache until the commit, rather than spilling them to the WAL
	// and reading them back (the default cache is 2 MB).
	if _, err := tx.ExecContext(ctx, "PRAGMA cache_size = -"+strconv.Itoa(batchCacheKiB)); err != nil {
		return nil, nil, false, err
	}
	// The checkpointer copies the WAL into the file beside the writer after
	// each batch (PutRecords pokes it); the writer's own autocheckpoint is
	// only the backstop that lets the WAL start over, since the checkpointer
	// cannot while the writer keeps appending. Commits are as durable as
	// before (a commit is in the WAL whatever its size); the WAL file grows
	// to about twice bulkWALBytes, and is checkpointed and removed when the
	// last connection closes.
	if _, err := tx.ExecContext(ctx, "PRAGMA wal_autocheckpoint = "+strconv.Itoa(max(1, 2*db.bulkWAL/db.pageSize))); err != nil {
		return nil, nil, false, err
	}

	// The records' statements run under ctx without its cancellation: the
	// driver watches a cancellable context with a goroutine a statement
	// (interruptOnDone), which cost an import about 6 % of its CPU at some
	// 25 statements a record. A cancelled ctx still ends the batch: it is
	// checked before each record, and database/sql rolls the transaction
	// back when it is done, after which every statement fails.
	wctx := context.WithoutCancel(ctx)
	outcomes = make([]callvault.PutOutcome, len(records))
	errs = make([]error, len(records))
	for i, r := range records {
		if err := ctx.Err(); err != nil {
			return nil, nil, false, err
		}
		var o callvault.PutOutcome
		if savepoints {
			o, err = db.putInTx(wctx, tx, r)
		} else if err = precheckRecord(r); err == nil {
			if o, err = db.writeRecord(wctx, tx, r); err != nil && recordError(err) {
				return nil, nil, true, nil // rolled back
			}
		}
		if err == nil {
			outcomes[i] = o
			continue
		}
		if !recordError(err) {
			return nil, nil, false, err
		}
		errs[i] = err
	}
	if err := tx.Commit(); err != nil {
		return nil, nil, false, err
	}
	return outcomes, errs, false, nil
}

// precheckRecord returns the error that writeRecord would return for r
// before writing anything: an EINVALID error for a key or a time the store
// cannot hold.
func precheckRecord(r *callvault.Record) error {
	if err := validateRecord(r); err != nil {
		return err
	}
	if _, err := callvault.TimeKey(r.StartDateTime); err != nil {
		return err
	}
	_, err := callvault.TimeKey(r.EndDateTime)
	return err
}

// putInTx stores one record of a batch under a savepoint. An error that
// concerns the record alone comes back with the savepoint rolled back; any
// other error means the transaction must be abandoned.
func (db *DB) putInTx(ctx context.Context, tx *sql.Tx, r *callvault.Record) (_ callvault.PutOutcome, err error) {
	if err := validateRecord(r); err != nil {
		return 0, err
	}
	defer wrap(&err, "record %s", r.ID)

	if _, err := tx.ExecContext(ctx, "SAVEPOINT put_record"); err != nil {
		return 0, err
	}
	outcome, err := db.writeRecord(ctx, tx, r)
	if err != nil {
		if !recordError(err) {
			return 0, err
		}
		// Undo this record's rows, then drop the savepoint; what the batch
		// wrote before it stays.
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO put_record"); rerr != nil {
			return 0, rerr
		}
		if _, rerr := tx.ExecContext(ctx, "RELEASE put_record"); rerr != nil {
			return 0, rerr
		}
		if callvault.ErrorCode(err) == callvault.EINVALID {
			return 0, err
		}
		return 0, callvault.Errorf(callvault.EINVALID, "The store refused call record %s: %v", r.ID, err)
	}
	if _, err := tx.ExecContext(ctx, "RELEASE put_record"); err != nil {
		return 0, err
	}
	return outcome, nil
}

// recordError reports whether err concerns one record (its content), as
// opposed to the database or the transaction, after which the batch cannot
// go on.
func recordError(err error) bool {
	if callvault.ErrorCode(err) == callvault.EINVALID {
		return true
	}
	var se *driver.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH, sqlite3.SQLITE_RANGE:
		return true
	}
	return false
}
