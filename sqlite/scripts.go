package sqlite

import (
	"context"
	"database/sql"
	"math"

	"github.com/callvault/callvault"
)

// scriptTable is a table whose rows keep render scripts beside their
// bodies (migrations/0004_render_scripts.sql), as CompileScripts walks it:
// in the order of its primary key, by keyset chunks.
type scriptTable struct {
	table string
	kind  string // as a callvault.ScriptFunc names it
	keys  int    // how many columns the primary key has
	// sel reads a chunk: the primary key, the body and the scripts of the
	// rows past a key, at most a number of them. The body and the scripts
	// are CAST to BLOB, so that keep may hold them (a body the first schema
	// stored is TEXT).
	sel string
	// upd sets the scripts of the row of a key.
	upd string
}

// scriptTables are walked in this order: sessions, then segments.
var scriptTables = []scriptTable{{
	table: "sessions",
	kind:  "session",
	keys:  2,
	sel: `SELECT rk, seq, CAST(body AS BLOB), CAST(render AS BLOB) FROM sessions
		WHERE (rk, seq) > (?, ?) ORDER BY rk, seq LIMIT ?`,
	upd: `UPDATE sessions SET render = ? WHERE rk = ? AND seq = ?`,
}, {
	table: "segments",
	kind:  "segment",
	keys:  3,
	sel: `SELECT rk, session_seq, seq, CAST(body AS BLOB), CAST(render AS BLOB) FROM segments
		WHERE (rk, session_seq, seq) > (?, ?, ?) ORDER BY rk, session_seq, seq LIMIT ?`,
	upd: `UPDATE segments SET render = ? WHERE rk = ? AND session_seq = ? AND seq = ?`,
}}

// The bounds of one chunk of CompileScripts: so many rows, or about so
// many bytes of bodies and scripts read and to write (bodies can be
// megabytes), whichever comes first. A chunk is one write transaction,
// which holds the writer (imports wait, readers do not) while its rows
// are compiled: with ingest.Scripts, about 30 ms for 500 segments of
// 7 KB (28,000 rows a second over the sessions and segments of a 900 MB
// database, on two cores).
const (
	scriptChunkRows  = 500
	scriptChunkBytes = 8 << 20
)

// CompileScripts gives every session and segment of the database, of every
// tenant, the render scripts fn decides: it reads each row's body and
// scripts, calls fn, and writes the scripts fn returns where it says they
// changed (NULL for none). Tables are walked in primary key order, sessions
// then segments, by chunks of rows each read and written in one write
// transaction, so that a row a concurrent PutRecord replaces is either seen
// as it was and given the scripts of that body in the same transaction, or
// seen as it is now: never given the scripts of a body it no longer has.
// Memory does not grow with the database.
//
// progress, when not nil, is called after each chunk with the counts so
// far. The context is checked between chunks; a canceled run returns the
// counts of the chunks it committed, and running again goes on where the
// scripts are still missing (fn says they did not change elsewhere).
func (db *DB) CompileScripts(ctx context.Context, fn callvault.ScriptFunc, progress func(callvault.ScriptStats)) (callvault.ScriptStats, error) {
	return db.compileScripts(ctx, fn, progress, scriptChunkRows, scriptChunkBytes)
}

func (db *DB) compileScripts(ctx context.Context, fn callvault.ScriptFunc, progress func(callvault.ScriptStats), maxRows, maxBytes int) (stats callvault.ScriptStats, err error) {
	defer wrap(&err, "sqlite: compile render scripts")
	for _, st := range scriptTables {
		if err := db.compileTable(ctx, st, fn, progress, maxRows, maxBytes, &stats); err != nil {
			return stats, err
		}
	}
	return stats, nil
}

// compileTable walks the rows of one table, adding to stats after each
// chunk it commits.
func (db *DB) compileTable(ctx context.Context, st scriptTable, fn callvault.ScriptFunc, progress func(callvault.ScriptStats), maxRows, maxBytes int, stats *callvault.ScriptStats) error {
	sel, err := db.write.PrepareContext(ctx, st.sel)
	if err != nil {
		return err
	}
	defer sel.Close()
	upd, err := db.write.PrepareContext(ctx, st.upd)
	if err != nil {
		return err
	}
	defer upd.Close()

	after := make([]int64, st.keys) // the key of the last row done
	for i := range after {
		after[i] = math.MinInt64 // before every key
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows, changed, done, err := db.compileChunk(ctx, st, sel, upd, fn, after, maxRows, maxBytes)
		if err != nil {
			return err
		}
		stats.Rows += rows
		stats.Changed += changed
		if rows > 0 && progress != nil {
			progress(*stats)
		}
		if done {
			return nil
		}
	}
}

// scriptUpdate is the new scripts of the row of key.
type scriptUpdate struct {
	key     []int64
	scripts []byte
}

// compileChunk reads the rows past the key after, up to maxRows of them or
// about maxBytes, and writes the scripts of those fn changed, in one
// transaction. It moves after to the last row read, and says how many rows
// it read and wrote, and whether it read the table's last row.
func (db *DB) compileChunk(ctx context.Context, st scriptTable, sel, upd *sql.Stmt, fn callvault.ScriptFunc, after []int64, maxRows, maxBytes int) (n, changed int64, done bool, err error) {
	tx, err := db.write.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		return 0, 0, false, err
	}
	defer tx.Rollback()

	args := make([]any, 0, st.keys+1)
	for _, k := range after {
		args = append(args, k)
	}
	args = append(args, maxRows)
	rows, err := tx.StmtContext(ctx, sel).QueryContext(ctx, args...)
	if err != nil {
		return 0, 0, false, err
	}
	defer rows.Close()

	key := make([]int64, st.keys)
	var body, render sql.RawBytes
	dest := make([]any, 0, st.keys+2)
	for i := range key {
		dest = append(dest, &key[i])
	}
	dest = append(dest, &body, &render)
	var updates []scriptUpdate
	size := 0
	done = true
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return 0, 0, false, err
		}
		n++
		// The bodies are BLOBs in slices of their own (see keep): fn's
		// scripts may point into them.
		scripts, ok := fn(st.kind, keep(body), keep(render))
		size += len(body) + len(render)
		if ok {
			updates = append(updates, scriptUpdate{append([]int64(nil), key...), scripts})
			size += len(scripts)
		}
		copy(after, key)
		if size >= maxBytes {
			done = false
			break
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, false, err
	}
	if err := rows.Close(); err != nil {
		return 0, 0, false, err
	}
	if n == int64(maxRows) {
		done = false
	}

	if len(updates) > 0 {
		stmt := tx.StmtContext(ctx, upd)
		args = args[:0]
		for _, u := range updates {
			args = append(args[:0], nullBlob(u.scripts))
			for _, k := range u.key {
				args = append(args, k)
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return 0, 0, false, err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, false, err
	}
	return n, int64(len(updates)), done, nil
}
