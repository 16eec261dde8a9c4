package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callvault/callvault"
	"github.com/jackc/pgx/v5"
)

// Time partitions (PostgreSQL only; docs/scaling.md). After Partition, the
// record tables — call_records, sessions, segments, participants — are
// partitioned by range of the record's start_time, a partition a calendar
// month (UTC). The rows below a record carry its start_time as record_time,
// so that a record's sessions, segments or participants are read from one
// partition, and a $filter on startDateTime prunes the partitions outside
// it. The retention of whole months is then DROP TABLE (DropExpired).
//
// Partitions are made by callvault itself, not pg_partman: a write makes
// the partition of a month it is the first to need (once per month and
// process, outside the record's transaction), and Partition and
// EnsurePartitions make them ahead. Imported records span any dates, which
// a pre-made window of partitions would not cover without a default
// partition, and a default partition would block making later ones.
//
// The SQL stays PostgreSQL's: CockroachDB and YugabyteDB partition in
// other ways, so there the tables stay as they are.

// partitionedTables are the tables Partition partitions, each with the
// column that holds the record's start_time.
var partitionedTables = []struct{ name, key string }{
	{"call_records", "start_time"},
	{"sessions", "record_time"},
	{"segments", "record_time"},
	{"participants", "record_time"},
}

// partitionedDDL is the partitioned schema, its tables and indexes named
// with suffix (Partition builds it beside the tables it replaces). The
// primary keys hold the partition key, as PostgreSQL requires; a record's
// id is kept unique by the writer (putPartitioned).
func partitionedDDL(suffix string) string {
	r := strings.NewReplacer("$", suffix)
	return r.Replace(`
CREATE TABLE IF NOT EXISTS call_records$ (
	tenant            TEXT COLLATE "C" NOT NULL,
	id                TEXT COLLATE "C" NOT NULL,
	version           BIGINT NOT NULL,
	start_time        BIGINT NOT NULL,
	end_time          BIGINT NOT NULL,
	body              BYTEA  NOT NULL,
	organizer         BYTEA,
	session_count     BIGINT NOT NULL,
	participant_count BIGINT NOT NULL,
	stamp             BIGINT NOT NULL DEFAULT 0, -- migrations/0010_record_stamp.sql
	PRIMARY KEY (tenant, id, start_time)
) PARTITION BY RANGE (start_time);
CREATE INDEX IF NOT EXISTS call_records_by_start$ ON call_records$ (tenant, start_time, id, end_time);
-- Whether a month has a record that has not expired yet (DropExpired): a
-- BRIN index is a few pages a partition and costs writes next to nothing.
CREATE INDEX IF NOT EXISTS call_records_by_end$ ON call_records$ USING brin (end_time);

CREATE TABLE IF NOT EXISTS sessions$ (
	tenant      TEXT COLLATE "C" NOT NULL,
	record_id   TEXT COLLATE "C" NOT NULL,
	record_time BIGINT NOT NULL,
	seq         BIGINT NOT NULL,
	id          TEXT COLLATE "C" NOT NULL,
	body        BYTEA  NOT NULL,
	render      BYTEA,
	PRIMARY KEY (tenant, record_id, record_time, seq)
) PARTITION BY RANGE (record_time);
CREATE INDEX IF NOT EXISTS sessions_by_id$ ON sessions$ (tenant, record_id, id, seq);

CREATE TABLE IF NOT EXISTS segments$ (
	tenant      TEXT COLLATE "C" NOT NULL,
	record_id   TEXT COLLATE "C" NOT NULL,
	record_time BIGINT NOT NULL,
	session_seq BIGINT NOT NULL,
	seq         BIGINT NOT NULL,
	id          TEXT COLLATE "C" NOT NULL,
	body        BYTEA  NOT NULL,
	render      BYTEA,
	PRIMARY KEY (tenant, record_id, record_time, session_seq, seq)
) PARTITION BY RANGE (record_time);

CREATE TABLE IF NOT EXISTS participants$ (
	tenant       TEXT COLLATE "C" NOT NULL,
	record_id    TEXT COLLATE "C" NOT NULL,
	record_time  BIGINT NOT NULL,
	seq          BIGINT NOT NULL,
	id           TEXT COLLATE "C" NOT NULL,
	body         BYTEA  NOT NULL,
	record_start BIGINT,
	record_end   BIGINT,
	PRIMARY KEY (tenant, record_id, record_time, seq)
) PARTITION BY RANGE (record_time);
CREATE INDEX IF NOT EXISTS participants_in_record$ ON participants$ (tenant, record_id, id, seq);
CREATE INDEX IF NOT EXISTS participants_by_id$ ON participants$ (tenant, id, record_start, record_id, record_end)
	WHERE record_start IS NOT NULL;
`)
}

// month is a calendar month (UTC) as a partition: its name suffix and its
// bounds as SQL.
type month struct {
	suffix   string // _p202612
	from, to string // BIGINT literals, or MINVALUE and MAXVALUE at the ends of the range
	end      int64  // the first key after the month; MaxInt64 for the last
}

// monthOf returns the month of the time key k.
func monthOf(k int64) month {
	t := time.Unix(0, k).UTC()
	lo := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	hi := lo.AddDate(0, 1, 0)
	m := month{suffix: fmt.Sprintf("_p%04d%02d", lo.Year(), int(lo.Month())), from: "MINVALUE", to: "MAXVALUE", end: math.MaxInt64}
	if !lo.Before(time.Unix(0, math.MinInt64)) {
		m.from = strconv.FormatInt(lo.UnixNano(), 10)
	}
	if hi.Before(time.Unix(0, math.MaxInt64)) {
		m.to = strconv.FormatInt(hi.UnixNano(), 10)
		m.end = hi.UnixNano()
	}
	return m
}

// monthEnd returns the end key of the partition called name (such as
// call_records_p202612), and false for another name.
func monthEnd(name string) (int64, bool) {
	i := strings.LastIndex(name, "_p")
	if i < 0 || len(name)-i != 8 {
		return 0, false
	}
	y, err1 := strconv.Atoi(name[i+2 : i+6])
	mo, err2 := strconv.Atoi(name[i+6:])
	if err1 != nil || err2 != nil || mo < 1 || mo > 12 {
		return 0, false
	}
	return monthOf(time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC).UnixNano()).end, true
}

// partitionState is what a DB knows of its partitions.
type partitionState struct {
	on     bool     // the record tables are partitioned
	months sync.Map // month suffix → struct{}: partitions known to exist
}

// detectPartitions sets db.parts.on from the catalog.
func (db *DB) detectPartitions(ctx context.Context) error {
	var kind string
	err := db.pool.QueryRow(ctx, `SELECT c.relkind::TEXT FROM pg_class AS c
		WHERE c.oid = to_regclass('call_records')`).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	} else if err != nil {
		// CockroachDB and YugabyteDB have pg_class too; an engine without
		// it has no partitions either.
		return nil
	}
	db.parts.on = kind == "p"
	return nil
}

// ensurePartitions makes the partitions of the months of keys that this
// DB has not seen yet, on tables named with suffix ("" for the live ones).
func (db *DB) ensurePartitions(ctx context.Context, suffix string, keys ...int64) error {
	for _, k := range keys {
		m := monthOf(k)
		if _, ok := db.parts.months.Load(suffix + m.suffix); ok {
			continue
		}
		if err := db.createMonth(ctx, suffix, m); err != nil {
			return fmt.Errorf("make the partitions of %s: %w", strings.TrimPrefix(m.suffix, "_p"), err)
		}
		db.parts.months.Store(suffix+m.suffix, struct{}{})
	}
	return nil
}

// createMonth makes the month's partition of each record table, unless it
// exists. Each is made as a table of its own, then attached: ATTACH takes a
// SHARE UPDATE EXCLUSIVE lock of the parent, which reads and writes do not
// wait for, where CREATE TABLE … PARTITION OF would take an exclusive one.
// Two servers making one at once can collide; the loser tries again and
// finds it.
func (db *DB) createMonth(ctx context.Context, suffix string, m month) error {
	for _, t := range partitionedTables {
		name := t.name + m.suffix
		for attempt := 1; ; attempt++ {
			err := db.inTx(ctx, func(tx pgx.Tx) error {
				var exists bool
				if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil || exists {
					return err
				}
				_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (LIKE %s%s INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
					ALTER TABLE %s%s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s)`,
					name, t.name, suffix, t.name, suffix, name, m.from, m.to))
				return err
			})
			if err == nil {
				break
			} else if attempt == 5 || !hasCode(err, "23505", "42P07", "42710") {
				return err
			}
		}
	}
	return nil
}

// EnsurePartitions makes the partitions of every month from from to to, on
// a partitioned database; it does nothing on another. serve calls it for
// the months ahead, so that no write waits for a partition to be made.
func (db *DB) EnsurePartitions(ctx context.Context, from, to time.Time) (err error) {
	if !db.parts.on {
		return nil
	}
	defer wrap(&err, "postgres: make partitions")
	for t := from.UTC(); !t.After(to); t = t.AddDate(0, 1, 0) {
		k, err := callvault.TimeKey(t)
		if err != nil {
			return err
		}
		if err := db.ensurePartitions(ctx, "", k); err != nil {
			return err
		}
	}
	return nil
}

// Partitioned reports whether the record tables are partitioned.
func (db *DB) Partitioned() bool { return db.parts.on }

// DropExpired detaches and drops the month partitions of the record tables
// in which every record ended before notBefore (serve --retention): a
// month forgotten at the cost of a catalog change, whatever its size. It
// returns the months dropped, such as "202611". A month that ends before
// notBefore but holds a record still running after it is kept; ListRecords
// and the other reads hide its expired records as they do on any store.
// On an unpartitioned database it does nothing.
func (db *DB) DropExpired(ctx context.Context, notBefore time.Time) (dropped []string, err error) {
	if !db.parts.on {
		return nil, nil
	}
	defer wrap(&err, "postgres: drop expired partitions")
	limit, err := callvault.TimeKey(notBefore)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT c.relname::TEXT FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'call_records'::regclass ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		end, ok := monthEnd(name)
		if !ok || end > limit {
			continue
		}
		suffix := name[strings.LastIndex(name, "_p"):]
		done, err := db.dropMonth(ctx, suffix, limit)
		if err != nil {
			return dropped, err
		} else if done {
			dropped = append(dropped, strings.TrimPrefix(suffix, "_p"))
			db.parts.months.Delete(suffix)
		}
	}
	return dropped, nil
}

// dropMonth drops the month's partitions in one transaction, unless one of
// its records ends at or after limit.
func (db *DB) dropMonth(ctx context.Context, suffix string, limit int64) (dropped bool, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		dropped = false
		// The lock keeps a write from adding a live record meanwhile.
		if _, err := tx.Exec(ctx, `LOCK TABLE call_records`+suffix+` IN SHARE MODE`); err != nil {
			return err
		}
		var live bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM call_records`+suffix+` WHERE end_time >= $1)`, limit).Scan(&live); err != nil {
			return err
		} else if live {
			return nil
		}
		for _, t := range partitionedTables {
			if _, err := tx.Exec(ctx, `ALTER TABLE `+t.name+` DETACH PARTITION `+t.name+suffix); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DROP TABLE `+t.name+suffix); err != nil {
				return err
			}
		}
		dropped = true
		return nil
	})
	return dropped, err
}

// PartitionProgress reports how far Partition has copied.
type PartitionProgress struct {
	Records, Total int64 // records copied, of about Total
	Done           bool  // the partitioned tables have replaced the others
}

// partitionBatch is how many records Partition copies in one transaction.
var partitionBatch = 2000

// Partition moves the record tables of the database at dsn (migrated)
// into time-partitioned tables: a no-op when they are partitioned already.
// It copies the records in batches, each in a transaction that also
// records how far it got, so that a run that is stopped resumes where it
// was; then, in one transaction that holds the tables locked, it copies
// what remains and puts the partitioned tables in place. Servers may read
// meanwhile; writes made during the copy to records it has passed are
// lost, so run it with imports, ingest and mirrors stopped. progress, when
// not nil, is called after each batch.
func Partition(ctx context.Context, dsn string, progress func(PartitionProgress)) (err error) {
	defer wrap(&err, "postgres: partition %s", Redact(dsn))
	pool, err := connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	db := &DB{pool: pool}
	if _, err := db.migrate(ctx); err != nil {
		return err
	}
	if err := db.detectPartitions(ctx); err != nil {
		return err
	} else if db.parts.on {
		if progress != nil {
			progress(PartitionProgress{Done: true})
		}
		return nil
	}
	if _, err := pool.Exec(ctx, partitionedDDL("_new")+`
		CREATE TABLE IF NOT EXISTS partition_progress (
			id        INT NOT NULL PRIMARY KEY,
			tenant    TEXT COLLATE "C" NOT NULL,
			record_id TEXT COLLATE "C" NOT NULL,
			copied    BIGINT NOT NULL
		);
		INSERT INTO partition_progress VALUES (1, '', '', 0) ON CONFLICT (id) DO NOTHING`); err != nil {
		return err
	}
	var p PartitionProgress
	// The planner's estimate: counting a large table exactly takes long. A
	// table never analysed (-1) is small, and counted.
	if err := pool.QueryRow(ctx, `SELECT CASE WHEN reltuples >= 0 THEN reltuples::BIGINT ELSE (SELECT count(*) FROM call_records) END
		FROM pg_class WHERE oid = 'call_records'::regclass`).Scan(&p.Total); err != nil {
		return err
	}
	for {
		n, err := db.copyBatch(ctx, nil)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if err := pool.QueryRow(ctx, `SELECT copied FROM partition_progress WHERE id = 1`).Scan(&p.Records); err != nil {
			return err
		}
		if progress != nil {
			progress(p)
		}
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE call_records, sessions, segments, participants IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		for {
			n, err := db.copyBatch(ctx, tx)
			if err != nil {
				return err
			} else if n == 0 {
				break
			}
		}
		_, err := tx.Exec(ctx, swapSQL())
		return err
	})
	if err != nil {
		return err
	}
	if progress != nil {
		p.Done = true
		progress(p)
	}
	return nil
}

// swapSQL puts the _new tables in place of the unpartitioned ones, and
// drops those.
func swapSQL() string {
	var b strings.Builder
	for _, t := range partitionedTables {
		fmt.Fprintf(&b, "DROP TABLE %s;\nALTER TABLE %s_new RENAME TO %s;\n", t.name, t.name, t.name)
	}
	for _, ix := range []string{"call_records_by_start", "call_records_by_end", "sessions_by_id", "participants_in_record", "participants_by_id"} {
		fmt.Fprintf(&b, "ALTER INDEX %s_new RENAME TO %s;\n", ix, ix)
	}
	b.WriteString("DROP TABLE partition_progress;\n")
	return b.String()
}

// copyBatch copies the next batch of records after partition_progress's
// key, with the rows below them, into the _new tables, in tx or in a
// transaction of its own, and returns how many it copied.
func (db *DB) copyBatch(ctx context.Context, tx pgx.Tx) (int, error) {
	var n int
	run := func(tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, `SELECT c.tenant, c.id, c.start_time FROM call_records AS c, partition_progress AS p
			WHERE p.id = 1 AND (c.tenant, c.id) > (p.tenant, p.record_id)
			ORDER BY c.tenant, c.id LIMIT $1`, partitionBatch)
		if err != nil {
			return err
		}
		var tenants, ids []string
		var starts []int64
		for rows.Next() {
			var t, id string
			var s int64
			if err := rows.Scan(&t, &id, &s); err != nil {
				return err
			}
			tenants, ids, starts = append(tenants, t), append(ids, id), append(starts, s)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if err := db.ensurePartitions(ctx, "_new", starts...); err != nil {
			return err
		}
		const batch = `WITH b (tenant, id, start_time) AS (SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[]))`
		for _, sql := range []string{
			batch + ` INSERT INTO call_records_new (tenant, id, version, start_time, end_time, body, organizer, session_count, participant_count, stamp)
				SELECT c.tenant, c.id, c.version, c.start_time, c.end_time, c.body, c.organizer, c.session_count, c.participant_count, c.stamp
				FROM b JOIN call_records AS c ON c.tenant = b.tenant AND c.id = b.id ON CONFLICT DO NOTHING`,
			batch + ` INSERT INTO sessions_new (tenant, record_id, record_time, seq, id, body, render)
				SELECT s.tenant, s.record_id, b.start_time, s.seq, s.id, s.body, s.render
				FROM b JOIN sessions AS s ON s.tenant = b.tenant AND s.record_id = b.id ON CONFLICT DO NOTHING`,
			batch + ` INSERT INTO segments_new (tenant, record_id, record_time, session_seq, seq, id, body, render)
				SELECT g.tenant, g.record_id, b.start_time, g.session_seq, g.seq, g.id, g.body, g.render
				FROM b JOIN segments AS g ON g.tenant = b.tenant AND g.record_id = b.id ON CONFLICT DO NOTHING`,
			batch + ` INSERT INTO participants_new (tenant, record_id, record_time, seq, id, body, record_start, record_end)
				SELECT p.tenant, p.record_id, b.start_time, p.seq, p.id, p.body, p.record_start, p.record_end
				FROM b JOIN participants AS p ON p.tenant = b.tenant AND p.record_id = b.id ON CONFLICT DO NOTHING`,
		} {
			if _, err := tx.Exec(ctx, sql, tenants, ids, starts); err != nil {
				return err
			}
		}
		last := len(ids) - 1
		_, err = tx.Exec(ctx, `UPDATE partition_progress SET tenant = $1, record_id = $2, copied = copied + $3 WHERE id = 1`,
			tenants[last], ids[last], len(ids))
		n = len(ids)
		return err
	}
	if tx != nil {
		return n, run(tx)
	}
	return n, db.inTx(ctx, run)
}

// putPartitioned is put on the partitioned tables: the record is found by
// its key under a lock of the key, since no unique index can say that an id
// is stored once whatever its start_time, then inserted, or updated (moved
// to the partition of its new start_time if that changed) with its rows
// rewritten.
func (p *recordPut) putPartitioned(ctx context.Context, tx pgx.Tx) (callvault.PutOutcome, error) {
	// The lock and the lookup go in one round trip: pipelined, the lookup
	// still runs after the lock is taken, as a statement of its own, so it
	// sees what a writer that held the lock committed.
	find := &pgx.Batch{}
	find.Queue(sqlLockRecordKey, p.r.Tenant, p.r.ID)
	find.Queue(sqlSelectStoredP, p.r.Tenant, p.r.ID)
	br := tx.SendBatch(ctx, find)
	var stored, storedStart int64
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&stored, &storedStart)
	}
	if cerr := br.Close(); err == nil || (errors.Is(err, pgx.ErrNoRows) && cerr != nil) {
		err = cerr
	}
	// The record's own write leads the batch of its rows: one more round
	// trip for the whole of an ordinary record (sender).
	outcome, change := callvault.Inserted, callvault.ChangeCreated
	s := newSender(ctx, tx)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		s.queue(len(p.r.Body), sqlInsertRecordP, p.header...)
	case err != nil:
		return 0, err
	case stored > p.r.Version:
		return callvault.Stale, nil
	default:
		s.queue(len(p.r.Body), sqlUpdateRecordP, append(p.header[:10:10], storedStart)...)
		outcome, change = callvault.Replaced, 0
		if p.r.Version > stored {
			change = callvault.ChangeUpdated
		}
		for _, sql := range []string{sqlDeleteSegmentsP, sqlDeleteSessionsP, sqlDeleteParticipantsP} {
			s.queue(0, sql, p.r.Tenant, p.r.ID, storedStart)
		}
	}
	queueRows(s, &partitionedSQL, p.r, p.start, p.end)
	queueQuality(s, p.r, outcome == callvault.Replaced)
	if change != 0 {
		queueNotifications(s, p.r.Tenant, p.r.ID, change)
	}
	if err := s.flush(); err != nil {
		return 0, err
	}
	return outcome, nil
}
