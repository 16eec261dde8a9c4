package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/callvault/callvault"
)

// schemaOf returns the CREATE statement of the index name, "" when there is
// none.
func schemaOf(t *testing.T, db *DB, name string) string {
	t.Helper()
	var sql string
	err := db.write.QueryRowContext(t.Context(), "SELECT coalesce((SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?), '')", name).Scan(&sql)
	if err != nil {
		t.Fatal(err)
	}
	return sql
}

// byParticipant returns the ids of the records of participant p, as
// ListRecords pages them.
func byParticipant(t *testing.T, db *DB, p string) []string {
	t.Helper()
	page, err := db.ListRecords(t.Context(), callvault.RecordQuery{Tenant: "t", ParticipantID: p, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range page.Records {
		ids = append(ids, h.ID)
	}
	return ids
}

func participantRecords(from, n int) []*callvault.Record {
	var rs []*callvault.Record
	for i := from; i < from+n; i++ {
		r := batchRecord(fmt.Sprintf("r%03d", i), 1, 1)
		r.Participants = []callvault.Participant{{ID: fmt.Sprintf("p%d", i%3), Body: []byte(`{}`)}}
		rs = append(rs, r)
	}
	return rs
}

// A bulk load drops participants_by_id and builds it again, as the
// migrations made it, at its end; between the two, queries by participant
// answer the same, from the table.
func TestBulkLoadPutsOffParticipantsByID(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	ctx := t.Context()
	migrated := schemaOf(t, db, "participants_by_id")
	if migrated == "" {
		t.Fatal("no participants_by_id after Open")
	}
	if _, _, err := db.PutRecords(ctx, participantRecords(0, 6)); err != nil {
		t.Fatal(err)
	}
	end, err := db.BeginBulk(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := schemaOf(t, db, "participants_by_id"); got != "" {
		t.Fatalf("participants_by_id during a bulk load: %s", got)
	}
	if _, _, err := db.PutRecords(ctx, participantRecords(6, 6)); err != nil {
		t.Fatal(err)
	}
	want := []string{"r001", "r004", "r007", "r010"}
	if got := byParticipant(t, db, "p1"); !slices.Equal(got, want) {
		t.Errorf("participant p1 during a bulk load: %q, want %q", got, want)
	}
	if err := end(ctx); err != nil {
		t.Fatal(err)
	}
	if err := end(ctx); err != nil {
		t.Errorf("end again: %v", err)
	}
	if got := schemaOf(t, db, "participants_by_id"); got != migrated {
		t.Errorf("participants_by_id after a bulk load:\n%s\nwant, as migrated:\n%s", got, migrated)
	}
	if got := byParticipant(t, db, "p1"); !slices.Equal(got, want) {
		t.Errorf("participant p1 after a bulk load: %q, want %q", got, want)
	}
}

// A process that stops during a bulk load leaves the index to the next
// Open, which builds it as it was.
func TestOpenBuildsWhatABulkLoadPutOff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callvault.db")
	db := open(t, path)
	migrated := schemaOf(t, db, "participants_by_id")
	if _, _, err := db.PutRecords(t.Context(), participantRecords(0, 6)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.BeginBulk(t.Context()); err != nil { // and never ended
		t.Fatal(err)
	}
	db.Close()

	db = open(t, path)
	defer db.Close()
	if got := schemaOf(t, db, "participants_by_id"); got != migrated {
		t.Errorf("participants_by_id after Open:\n%s\nwant, as migrated:\n%s", got, migrated)
	}
	var n int
	if err := db.write.QueryRowContext(t.Context(), "SELECT count(*) FROM put_off_indexes").Scan(&n); err != nil || n != 0 {
		t.Errorf("put_off_indexes holds %d rows (%v), want none", n, err)
	}
	if got := byParticipant(t, db, "p0"); !slices.Equal(got, []string{"r000", "r003"}) {
		t.Errorf("participant p0: %q", got)
	}
}

// A store with more participant rows than a rebuild should read keeps its
// index.
func TestBulkLoadDeclinesOnALargeStore(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "callvault.db"))
	defer db.Close()
	db.bulkMaxParticipants = 5
	if _, _, err := db.PutRecords(t.Context(), participantRecords(0, 6)); err != nil {
		t.Fatal(err)
	}
	end, err := db.BeginBulk(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if schemaOf(t, db, "participants_by_id") == "" || end != nil {
		t.Error("a bulk load begun on a store of more rows than bulkMaxParticipants")
	}
}

// A server that has the store open, as serve beside callvault import,
// answers queries by participant while the import's bulk load drops the
// index and after it builds it again: its prepared statements follow the
// schema.
func TestAnotherProcessReadsThroughABulkLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "callvault.db")
	importer, server := open(t, path), open(t, path)
	defer importer.Close()
	defer server.Close()
	ctx := t.Context()
	if _, _, err := importer.PutRecords(ctx, participantRecords(0, 6)); err != nil {
		t.Fatal(err)
	}
	want := []string{"r002", "r005"}
	if got := byParticipant(t, server, "p2"); !slices.Equal(got, want) {
		t.Fatalf("before: %q", got)
	}
	end, err := importer.BeginBulk(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := importer.PutRecords(ctx, participantRecords(6, 3)); err != nil {
		t.Fatal(err)
	}
	want = append(want, "r008")
	if got := byParticipant(t, server, "p2"); !slices.Equal(got, want) {
		t.Errorf("during the bulk load: %q, want %q", got, want)
	}
	// A process that opens the store now (callvault token, a new serve)
	// sees a load that runs, not one that stopped: it leaves the index
	// to the load's end.
	late := open(t, path)
	if got := schemaOf(t, late, "participants_by_id"); got != "" {
		t.Errorf("an Open during the bulk load built participants_by_id:\n%s", got)
	}
	if got := byParticipant(t, late, "p2"); !slices.Equal(got, want) {
		t.Errorf("read by a process opened during the bulk load: %q, want %q", got, want)
	}
	late.Close()
	if err := end(ctx); err != nil {
		t.Fatal(err)
	}
	if got := byParticipant(t, server, "p2"); !slices.Equal(got, want) {
		t.Errorf("after it: %q, want %q", got, want)
	}
	if n, err := server.CountRecords(ctx, callvault.RecordQuery{Tenant: "t", ParticipantID: "p2"}); err != nil || n != 3 {
		t.Errorf("count: %d, %v", n, err)
	}
}
