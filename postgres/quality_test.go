package postgres_test

import (
	"testing"

	"github.com/callvault/callvault/internal/qualitysql/rolluptest"
	"github.com/callvault/callvault/postgres/pgtest"
)

func TestQualityRollupFollowsReplacedRecords(t *testing.T) {
	rolluptest.FollowsReplacedRecords(t, open(t, pgtest.DSN(t)))
}

func TestQualityRollupReadsTheQueriedMedia(t *testing.T) {
	rolluptest.ReadsTheQueriedMedia(t, open(t, pgtest.DSN(t)))
}
