package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// bulkIndexes are the indexes a bulk load puts off. participants_by_id is
// keyed by participant ids, which are random, so every batch of an import
// wrote its entries into leaves all over the index, each leaf whole into
// the WAL and again into the file: 15 % of a million-session import
// (docs/performance.md, "Thirteenth round"). Built at the end from sorted
// keys, it is written once. The rows below a record are appended to their
// indexes (0003_record_keys.sql); call_records' own two indexes are written
// at random places too, but hold an entry a record, and every read needs
// them.
var bulkIndexes = []string{"participants_by_id"}

// bulkMaxParticipants is the most participant rows a store may hold for
// BeginBulk to put the index off: its rebuild at the end reads them all.
// The million-session import's 969,412 rows took 1.9 s, so the bound keeps
// a rebuild under some 8 s, which an import into a store that large pays
// even when it ends soon after the DefaultBulkAfter batches that begin a
// bulk load, and saves many times over when it goes on.
const bulkMaxParticipants = 4_000_000

// BeginBulk drops the bulkIndexes until end builds them again. Their
// CREATE statements, as sqlite_schema holds them, are kept in
// put_off_indexes in the same transaction, so that the next Open builds
// them again if the process stops before end.
//
// Meanwhile ListRecords of one participant reads the participants table
// instead of the index: the same answers, more slowly. BeginBulk declines,
// and end is nil, when the store holds more than bulkMaxParticipants
// participant rows.
func (db *DB) BeginBulk(ctx context.Context) (end func(context.Context) error, err error) {
	defer wrap(&err, "sqlite: begin a bulk load")
	// The largest rowid, from the end of the table's B-tree, bounds how
	// many rows it has without counting them.
	var rows int64
	if err := db.write.QueryRowContext(ctx, "SELECT coalesce(max(rowid), 0) FROM participants").Scan(&rows); err != nil {
		return nil, err
	}
	if rows > db.bulkMaxParticipants {
		return nil, nil
	}
	// The lock tells the next Open of another process that this load is
	// running, not stopped. Another load holding it is running as well;
	// this one then goes on without it.
	db.releaseBulk()
	if release, err := lockBulk(db.path); err == nil {
		db.bulkMu.Lock()
		db.bulkRelease = release
		db.bulkMu.Unlock()
	}
	defer func() {
		if err != nil {
			db.releaseBulk()
		}
	}()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for _, name := range bulkIndexes {
		var create string
		err := tx.QueryRowContext(ctx, "SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?", name).Scan(&create)
		if errors.Is(err, sql.ErrNoRows) {
			continue // put off already, by a load that has not ended
		}
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO put_off_indexes (name, sql) VALUES (?, ?)", name, create); err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+name+`"`); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	var once sync.Once
	return func(ctx context.Context) (err error) {
		once.Do(func() {
			defer wrap(&err, "sqlite: end a bulk load")
			defer db.releaseBulk()
			err = db.buildPutOff(ctx)
		})
		return err
	}, nil
}

// buildPutOff builds every index in put_off_indexes, each in one
// transaction with the removal of its row.
func (db *DB) buildPutOff(ctx context.Context) error {
	rows, err := db.write.QueryContext(ctx, "SELECT name, sql FROM put_off_indexes ORDER BY name")
	if err != nil {
		return err
	}
	type index struct{ name, sql string }
	var put []index
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.sql); err != nil {
			rows.Close()
			return err
		}
		put = append(put, ix)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, ix := range put {
		tx, err := db.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, ix.sql)
		if err == nil {
			_, err = tx.ExecContext(ctx, "DELETE FROM put_off_indexes WHERE name = ?", ix.name)
		}
		if err == nil {
			err = tx.Commit()
		}
		tx.Rollback()
		if err != nil {
			return fmt.Errorf("build %s: %w", ix.name, err)
		}
	}
	return nil
}

// releaseBulk drops the bulk lock this DB holds, if any.
func (db *DB) releaseBulk() {
	db.bulkMu.Lock()
	defer db.bulkMu.Unlock()
	if db.bulkRelease != nil {
		db.bulkRelease()
		db.bulkRelease = nil
	}
}

// restoreBulk builds the indexes a bulk load put off if the process that
// began it stopped before its end; a load still running, in another
// process, keeps them put off. A database this process may only read keeps
// going without them.
func (db *DB) restoreBulk(ctx context.Context) {
	var n int
	if err := db.write.QueryRowContext(ctx, "SELECT count(*) FROM put_off_indexes").Scan(&n); err != nil || n == 0 {
		return
	}
	if bulkRunning(db.path) {
		slog.Info("sqlite: a bulk load runs in another process: the indexes it put off are built at its end", "indexes", n)
		return
	}
	slog.Warn("sqlite: a bulk load did not end: building the indexes it put off", "indexes", n)
	if err := db.buildPutOff(ctx); err != nil {
		slog.Warn("sqlite: the indexes a bulk load put off are not built: queries that need them read whole tables", "err", err)
	}
}
