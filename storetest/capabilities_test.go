package storetest_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/postgres"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/storetest"
)

// The optional capabilities each store of callvault has, as callvault's
// store.go lists them: a method whose signature drifts from its interface
// fails the build here rather than silently losing the capability.
var (
	_ callvault.BatchStore             = (*sqlite.DB)(nil)
	_ callvault.BulkLoader             = (*sqlite.DB)(nil)
	_ callvault.SessionPageVisitor     = (*sqlite.DB)(nil)
	_ callvault.ScriptCompiler         = (*sqlite.DB)(nil)
	_ callvault.MigrationReporter      = (*sqlite.DB)(nil)
	_ callvault.Pinger                 = (*sqlite.DB)(nil)
	_ callvault.MirrorStore            = (*sqlite.DB)(nil)
	_ callvault.MirrorListingStore     = (*sqlite.DB)(nil)
	_ callvault.QualityStore           = (*sqlite.DB)(nil)
	_ callvault.QualityAggregator      = (*sqlite.DB)(nil)
	_ callvault.QualityCallVisitor     = (*sqlite.DB)(nil)
	_ callvault.QualityRollupRefresher = (*sqlite.DB)(nil)
	_ callvault.SubscriptionStore      = (*sqlite.DB)(nil)
	_ callvault.Outbox                 = (*sqlite.DB)(nil)
	_ callvault.DriftStore             = (*sqlite.DB)(nil)

	_ callvault.BatchStore             = (*postgres.DB)(nil)
	_ callvault.SessionPageVisitor     = (*postgres.DB)(nil)
	_ callvault.ScriptCompiler         = (*postgres.DB)(nil)
	_ callvault.Pinger                 = (*postgres.DB)(nil)
	_ callvault.ReplicaReporter        = (*postgres.DB)(nil)
	_ callvault.BucketStore            = (*postgres.DB)(nil)
	_ callvault.MirrorStore            = (*postgres.DB)(nil)
	_ callvault.MirrorListingStore     = (*postgres.DB)(nil)
	_ callvault.QualityStore           = (*postgres.DB)(nil)
	_ callvault.QualityAggregator      = (*postgres.DB)(nil)
	_ callvault.QualityCallVisitor     = (*postgres.DB)(nil)
	_ callvault.QualityRollupRefresher = (*postgres.DB)(nil)
	_ callvault.SubscriptionStore      = (*postgres.DB)(nil)
	_ callvault.Outbox                 = (*postgres.DB)(nil)
	_ callvault.DriftStore             = (*postgres.DB)(nil)
	_ callvault.SecretUpdater          = (*postgres.DB)(nil)
)

// wrapped embeds a Store, as a test's wrapper does.
type wrapped struct{ callvault.Store }

func TestCapabilities(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "callvault.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := []string{"BatchStore", "BulkLoader", "SessionPageVisitor", "ScriptCompiler", "MigrationReporter", "Pinger",
		"MirrorStore", "MirrorListingStore", "QualityStore", "QualityAggregator", "QualityCallVisitor", "QualityRollupRefresher", "SubscriptionStore", "Outbox", "DriftStore"}
	if got := storetest.Capabilities(db); !slices.Equal(got, want) {
		t.Errorf("the SQLite store has %q, want %q", got, want)
	}
	if got := storetest.Capabilities(wrapped{db}); len(got) != 0 {
		t.Errorf("a Store embedded in a struct keeps %q, want none", got)
	}
}
