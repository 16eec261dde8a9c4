package postgres

import "context"

// MigrateThrough applies to the database at dsn the migrations it lacks up
// to and including last (e.g. "migrations/0001_init.sql"): a database of
// an older schema.
func MigrateThrough(ctx context.Context, dsn, last string) ([]string, error) {
	pool, err := connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return (&DB{pool: pool}).migrateThrough(ctx, last)
}

// SetScriptChunk sets the most rows and bytes of a chunk of db's
// CompileScripts.
func SetScriptChunk(db *DB, rows, bytes int) {
	db.scriptRows, db.scriptBytes = rows, bytes
}

// ReplicaReads returns how many reads each of db's replicas answered.
func ReplicaReads(db *DB) []int64 {
	var n []int64
	for _, r := range db.replicas.list {
		n = append(n, r.reads.Load())
	}
	return n
}

// PartitionedSessionsSQL and PartitionedRecordsSQL are the partitioned
// schema's reads of a page of sessions and of records, for EXPLAIN.
var (
	PartitionedSessionsSQL = partitionedSQL.selectSessions
	PartitionedRecordsSQL  = partitionedSQL.selectRecords
)

// SetPartitionBatch sets how many records Partition copies in a batch.
func SetPartitionBatch(n int) { partitionBatch = n }

// ServerMajor is serverMajor, for its example.
var ServerMajor = serverMajor
