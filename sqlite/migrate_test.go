package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/callvault/callvault"
)

// The writer's SQL of the schema of migrations 0001 and 0002, rows keyed by
// (tenant, record_id), as callvault wrote it before 0003_record_keys.sql.
const (
	oldSelectVersion = `SELECT version FROM call_records WHERE tenant = ? AND id = ?`
	oldInsertRecord  = `INSERT INTO call_records (tenant, id, version, start_time, end_time, body, organizer, session_count, participant_count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	oldUpdateRecord = `UPDATE call_records
		SET version = ?, start_time = ?, end_time = ?, body = ?, organizer = ?, session_count = ?, participant_count = ?
		WHERE tenant = ? AND id = ?`
	oldInsertSession     = `INSERT INTO sessions (tenant, record_id, seq, id, body) VALUES (?, ?, ?, ?, ?)`
	oldInsertSegment     = `INSERT INTO segments (tenant, record_id, session_seq, seq, id, body) VALUES (?, ?, ?, ?, ?, ?)`
	oldInsertParticipant = `INSERT INTO participants (tenant, record_id, seq, id, body, record_start, record_end)
		VALUES (?, ?, ?, ?, ?, ?, ?)`
)

// createOldSchema creates at path a database of the schema before 0003, by
// the first two migrations as Open applied them, and returns it open.
func createOldSchema(t *testing.T, path string) *sql.DB {
	t.Helper()
	old, err := sql.Open("sqlite", dsn(path, url.Values{
		"_foreign_keys": {"1"},
		"_journal_mode": {"WAL"},
		"_pragma":       {"page_size(" + strconv.Itoa(pageSize) + ")"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	old.SetMaxOpenConns(1)
	if _, err := old.ExecContext(t.Context(), `CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT '')`); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"migrations/0001_init.sql", "migrations/0002_queries.sql"} {
		buf, err := migrationFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.ExecContext(t.Context(), string(buf)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := old.ExecContext(t.Context(), `INSERT INTO schema_migrations (name) VALUES (?)`, name); err != nil {
			t.Fatal(err)
		}
	}
	return old
}

// putOld stores r in a database of the old schema as PutRecord did then.
func putOld(ctx context.Context, db *sql.DB, r *callvault.Record) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	start, err := callvault.TimeKey(r.StartDateTime)
	if err != nil {
		return err
	}
	end, err := callvault.TimeKey(r.EndDateTime)
	if err != nil {
		return err
	}
	var version int64
	switch err := tx.QueryRowContext(ctx, oldSelectVersion, r.Tenant, r.ID).Scan(&version); {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, oldInsertRecord, r.Tenant, r.ID, r.Version, start, end, blob(r.Body), r.Organizer, len(r.Sessions), len(r.Participants)); err != nil {
			return err
		}
	case err != nil:
		return err
	case version > r.Version:
		return nil
	default:
		if _, err := tx.ExecContext(ctx, oldUpdateRecord, r.Version, start, end, blob(r.Body), r.Organizer, len(r.Sessions), len(r.Participants), r.Tenant, r.ID); err != nil {
			return err
		}
		for _, table := range []string{"segments", "sessions", "participants"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE tenant = ? AND record_id = ?`, r.Tenant, r.ID); err != nil {
				return err
			}
		}
	}
	for i, s := range r.Sessions {
		if _, err := tx.ExecContext(ctx, oldInsertSession, r.Tenant, r.ID, i+1, s.ID, blob(s.Body)); err != nil {
			return err
		}
		for j, g := range s.Segments {
			if _, err := tx.ExecContext(ctx, oldInsertSegment, r.Tenant, r.ID, i+1, j+1, g.ID, blob(g.Body)); err != nil {
				return err
			}
		}
	}
	seen := map[string]bool{}
	for i, p := range r.Participants {
		recordStart, recordEnd := sql.NullInt64{Int64: start, Valid: true}, sql.NullInt64{Int64: end, Valid: true}
		if seen[p.ID] {
			recordStart, recordEnd = sql.NullInt64{}, sql.NullInt64{}
		}
		seen[p.ID] = true
		if _, err := tx.ExecContext(ctx, oldInsertParticipant, r.Tenant, r.ID, i+1, p.ID, blob(p.Body), recordStart, recordEnd); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// randomRecords returns n records of a few tenants with random GUID-like
// ids (one id in two tenants), random numbers of sessions, segments and
// participants (ids drawn from a small set, some twice in a record), zero
// and real times, and rewrites of some with higher and lower versions.
func randomRecords(seed uint64, n int) []*callvault.Record {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	guid := func() string {
		return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff)
	}
	body := func(kind string, i int) []byte {
		return fmt.Appendf(nil, `{"kind":%q,"n":%d,"pad":"%0*d"}`, kind, i, rng.IntN(3000), 0)
	}
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	tenants := []string{"tenant-a", "tenant-b", "tenant-c"}
	record := func(tenant, id string, version int64) *callvault.Record {
		r := &callvault.Record{Tenant: tenant, ID: id, Version: version, Body: body("record", int(version))}
		if rng.IntN(10) != 0 {
			r.StartDateTime = base.Add(time.Duration(rng.IntN(1000)) * time.Minute)
			r.EndDateTime = r.StartDateTime.Add(time.Duration(rng.IntN(120)) * time.Minute)
		}
		if rng.IntN(2) == 0 {
			r.Organizer = []byte(`{"user":{"id":"` + guid() + `"}}`)
		}
		for i := range rng.IntN(9) {
			s := callvault.Session{ID: guid(), Body: body("session", i)}
			if i > 0 && rng.IntN(8) == 0 {
				s.ID = r.Sessions[0].ID // an id the record has twice
			}
			for j := range rng.IntN(4) {
				s.Segments = append(s.Segments, callvault.Segment{ID: guid(), Body: body("segment", j)})
			}
			r.Sessions = append(r.Sessions, s)
		}
		for i := range rng.IntN(6) {
			r.Participants = append(r.Participants, callvault.Participant{ID: "p" + strconv.Itoa(rng.IntN(8)), Body: body("participant", i)})
		}
		return r
	}
	var records []*callvault.Record
	for i := range n {
		tenant := tenants[rng.IntN(len(tenants))]
		switch {
		case i > 0 && i%17 == 0: // a rewrite, newer or older
			prev := records[rng.IntN(len(records))]
			records = append(records, record(prev.Tenant, prev.ID, prev.Version+int64(rng.IntN(3))-1))
		case i > 0 && i%23 == 0: // the same id in another tenant
			prev := records[rng.IntN(len(records))]
			other := tenants[(indexOf(tenants, prev.Tenant)+1)%len(tenants)]
			records = append(records, record(other, prev.ID, 1))
		default:
			records = append(records, record(tenant, guid(), 1))
		}
	}
	return records
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// TestMigrationToRecordKeys fills a database of the schema before 0003
// through the SQL callvault wrote it with then, opens it with this code,
// which moves its rows to the tables keyed by rk, and checks that every read
// of the Store returns what it returns from a new database the same records
// were put into.
func TestMigrationToRecordKeys(t *testing.T) {
	ctx := t.Context()
	records := randomRecords(7, 120)

	path := filepath.Join(t.TempDir(), "old.db")
	old := createOldSchema(t, path)
	for _, r := range records {
		if err := putOld(ctx, old, r); err != nil {
			t.Fatalf("put %s in the old schema: %v", r.ID, err)
		}
	}
	// Statistics on the old tables, which the new ones must not inherit.
	if _, err := old.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	migrated := open(t, path)
	defer migrated.Close()
	want := open(t, filepath.Join(t.TempDir(), "new.db"))
	defer want.Close()
	for _, r := range records {
		if _, err := want.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	var stale int
	if err := migrated.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl IN ('call_records', 'sessions', 'segments', 'participants')`).Scan(&stale); err != nil || stale != 0 {
		t.Errorf("%d statistics of the old tables left (%v)", stale, err)
	}
	for _, table := range []string{"old_call_records", "old_sessions", "old_segments", "old_participants"} {
		var n int
		if err := migrated.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE tbl_name = ?`, table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s left behind: %d objects (%v)", table, n, err)
		}
	}
	var fkErrors int
	if err := migrated.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_foreign_key_check`).Scan(&fkErrors); err != nil || fkErrors != 0 {
		t.Errorf("%d foreign key violations (%v)", fkErrors, err)
	}
	checkPlans(t, migrated, "after the migration")

	compareStores(t, migrated, want, records)

	// The migrated database goes on taking records as a new one does: new
	// ones and rewrites of migrated ones.
	more := randomRecords(8, 60)
	for i, r := range more {
		if i%3 == 0 {
			prev := records[i]
			r.Tenant, r.ID, r.Version = prev.Tenant, prev.ID, prev.Version+1
		}
	}
	for _, db := range []*DB{migrated, want} {
		if _, errs, err := db.PutRecords(ctx, more); err != nil {
			t.Fatal(err)
		} else if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	compareStores(t, migrated, want, append(records, more...))
}

// compareStores checks that every read of got returns what the same read
// of want does, for the tenants, records, sessions and participants of
// records and for ids that do not exist.
func compareStores(t *testing.T, got, want *DB, records []*callvault.Record) {
	t.Helper()
	ctx := t.Context()
	same := func(what string, read func(db *DB) (any, error)) {
		t.Helper()
		g, gerr := read(got)
		w, werr := read(want)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			t.Errorf("%s:\ngot  %.800s, %v\nwant %.800s, %v", what, gj, gerr, wj, werr)
		}
	}

	tenants := map[string]bool{"no such tenant": true}
	participants := map[string]bool{"no such participant": true}
	for _, r := range records {
		tenants[r.Tenant] = true
		for _, p := range r.Participants {
			participants[p.ID] = true
		}
	}
	mid := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	for tenant := range tenants {
		var queries []callvault.RecordQuery
		for participant := range participants {
			if participant == "no such participant" && tenant == "no such tenant" {
				participant = ""
			}
			queries = append(queries,
				callvault.RecordQuery{Tenant: tenant, ParticipantID: participant},
				callvault.RecordQuery{Tenant: tenant, ParticipantID: participant, Start: callvault.TimeRange{From: mid, FromInclusive: true}},
				callvault.RecordQuery{Tenant: tenant, ParticipantID: participant, NotBefore: mid})
		}
		queries = append(queries, callvault.RecordQuery{Tenant: tenant}, callvault.RecordQuery{Tenant: tenant, Start: callvault.TimeRange{To: mid}})
		for _, q := range queries {
			same(fmt.Sprintf("count %+v", q), func(db *DB) (any, error) { return db.CountRecords(ctx, q) })
			q.Limit = 7
			same(fmt.Sprintf("list %+v", q), func(db *DB) (any, error) {
				q := q
				var pages []*callvault.RecordPage
				for {
					page, err := db.ListRecords(ctx, q)
					if err != nil {
						return pages, err
					}
					pages = append(pages, page)
					if !page.More {
						return pages, nil
					}
					last := page.Records[len(page.Records)-1]
					q.After = &callvault.RecordKey{StartDateTime: last.StartDateTime, ID: last.ID}
				}
			})
		}
	}

	for _, r := range records {
		for tenant := range tenants { // the record's tenant, and the others: walls
			key := fmt.Sprintf("%s/%s", tenant, r.ID)
			sessions, participants := r.Sessions, r.Participants
			if tenant != r.Tenant { // a few reads will do
				sessions, participants = sessions[:min(1, len(sessions))], participants[:min(1, len(participants))]
			}
			same("get "+key, func(db *DB) (any, error) { return db.GetRecord(ctx, tenant, r.ID) })
			limits := []int{3, 100}
			if tenant != r.Tenant {
				limits = limits[1:]
			}
			for _, segments := range []bool{false, true} {
				for _, limit := range limits {
					same(fmt.Sprintf("list sessions of %s, segments %v, by %d", key, segments, limit), func(db *DB) (any, error) {
						var pages []*callvault.SessionPage
						q := callvault.SessionQuery{Tenant: tenant, RecordID: r.ID, Limit: limit, Segments: segments}
						for {
							page, err := db.ListSessions(ctx, q)
							if err != nil {
								return pages, err
							}
							page.Stamp = 0 // each store gives its own (callvault.NewStamp)
							pages = append(pages, page)
							if !page.More {
								return pages, nil
							}
							q.After = page.Sessions[len(page.Sessions)-1].Seq
						}
					})
				}
				for _, s := range append(sessions, callvault.Session{ID: "no such session"}) {
					same(fmt.Sprintf("get session %s of %s, segments %v", s.ID, key, segments), func(db *DB) (any, error) {
						return db.GetSession(ctx, tenant, r.ID, s.ID, segments)
					})
				}
			}
			same("list participants of "+key, func(db *DB) (any, error) {
				var pages []*callvault.ParticipantPage
				q := callvault.ParticipantQuery{Tenant: tenant, RecordID: r.ID, Limit: 2}
				for {
					page, err := db.ListParticipants(ctx, q)
					if err != nil {
						return pages, err
					}
					pages = append(pages, page)
					if !page.More {
						return pages, nil
					}
					q.After = page.Participants[len(page.Participants)-1].Seq
				}
			})
			for _, p := range append(participants, callvault.Participant{ID: "no such participant"}) {
				same(fmt.Sprintf("get participant %s of %s", p.ID, key), func(db *DB) (any, error) {
					return db.GetParticipant(ctx, tenant, r.ID, p.ID)
				})
			}
		}
	}
}
