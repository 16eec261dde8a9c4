package postgres_test

import (
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/callvault/callvault/internal/qualitysql/rolluptest"
	"github.com/callvault/callvault/postgres/pgtest"
)

func TestQualityRollupFollowsReplacedRecords(t *testing.T) {
	rolluptest.FollowsReplacedRecords(t, open(t, pgtest.DSN(t)))
}

func TestQualityRollupReadsTheQueriedMedia(t *testing.T) {
	rolluptest.ReadsTheQueriedMedia(t, open(t, pgtest.DSN(t)))
}

// TestRollupKeyComparesBytes: the rollup's text columns sort byte by byte,
// as qualitysql compares the keys it adds up in order, whatever the
// database's own collation.
func TestRollupKeyComparesBytes(t *testing.T) {
	dsn := pgtest.DSN(t)
	open(t, dsn)
	conn := connect(t, dsn)
	rows, err := conn.Query(t.Context(), `SELECT column_name, COALESCE(collation_name, '') FROM information_schema.columns
		WHERE table_name = 'quality_rollup' AND data_type = 'text' ORDER BY column_name`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var name, collation string
	if _, err := pgx.ForEachRow(rows, []any{&name, &collation}, func() error { got[name] = collation; return nil }); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"tenant": "C", "dim": "C", "media": "C", "value": "C"}; !reflect.DeepEqual(got, want) {
		t.Errorf("collations %v, want %v", got, want)
	}
}
