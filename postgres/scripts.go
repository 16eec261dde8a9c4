package postgres

import (
	"bytes"
	"context"
	"fmt"
	"math"

	"github.com/callvault/callvault"
	"github.com/jackc/pgx/v5"
)

// A chunk of CompileScripts is at most this many rows, and about this many
// bytes of bodies and render scripts (at least one row, however large):
// enough that a transaction's overhead is small, few enough that its row
// locks are held briefly and its memory stays small when bodies are MBs.
const (
	scriptChunkRows  = 500
	scriptChunkBytes = 8 << 20
)

// scriptTable is the SQL of CompileScripts for one table. A cursor is the
// primary key of the last row done: (tenant, record_id, seq) of sessions,
// (tenant, record_id, session_seq, seq) of segments. Every statement is a
// range of the primary key from the cursor, in its order.
type scriptTable struct {
	kind string // what ScriptFunc is told
	keys int    // how many columns the key has
	// sizes reads the sizes of the rows of the next chunk, without their
	// bodies (octet_length reads a TOASTed value's header, not the value).
	sizes string
	// lock reads and locks the rows of the chunk: (tenant, record_id, key1,
	// key2, body, render), key2 0 for sessions.
	lock string
	// update writes the render scripts of rows by their keys.
	update string
}

var scriptTables = []scriptTable{
	{
		kind: "session",
		keys: 3,
		sizes: `SELECT octet_length(body) + coalesce(octet_length(render), 0) FROM sessions
			WHERE (tenant, record_id, seq) > ($1, $2, $3)
			ORDER BY tenant, record_id, seq LIMIT $4`,
		lock: `SELECT tenant, record_id, seq, 0::BIGINT, body, render FROM sessions
			WHERE (tenant, record_id, seq) > ($1, $2, $3)
			ORDER BY tenant, record_id, seq LIMIT $4
			FOR UPDATE`,
		update: `UPDATE sessions AS s SET render = u.render
			FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::BYTEA[]) AS u (tenant, record_id, seq, render)
			WHERE s.tenant = u.tenant AND s.record_id = u.record_id AND s.seq = u.seq`,
	},
	{
		kind: "segment",
		keys: 4,
		sizes: `SELECT octet_length(body) + coalesce(octet_length(render), 0) FROM segments
			WHERE (tenant, record_id, session_seq, seq) > ($1, $2, $3, $4)
			ORDER BY tenant, record_id, session_seq, seq LIMIT $5`,
		lock: `SELECT tenant, record_id, session_seq, seq, body, render FROM segments
			WHERE (tenant, record_id, session_seq, seq) > ($1, $2, $3, $4)
			ORDER BY tenant, record_id, session_seq, seq LIMIT $5
			FOR UPDATE`,
		update: `UPDATE segments AS s SET render = u.render
			FROM unnest($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::BYTEA[]) AS u (tenant, record_id, session_seq, seq, render)
			WHERE s.tenant = u.tenant AND s.record_id = u.record_id AND s.session_seq = u.session_seq AND s.seq = u.seq`,
	},
}

// scriptKey is the primary key of a session or segment row (b is 0 for a
// session). The zero cursor, before every row, has the smallest seqs.
type scriptKey struct {
	tenant, record string
	a, b           int64
}

// args returns the key as the arguments of a statement of t, then more.
func (k scriptKey) args(t *scriptTable, more ...any) []any {
	args := []any{k.tenant, k.record, k.a, k.b}[:t.keys]
	return append(args, more...)
}

// CompileScripts gives every session and segment of every tenant the render
// scripts fn decides for its body (callvault migrate --scripts, after a
// schema or compiler change, or on rows stored before there were scripts).
// It walks the sessions then the segments in primary-key order, in chunks of
// at most scriptChunkRows rows and about scriptChunkBytes bytes (never a
// whole table), each read and updated in one transaction: the chunk's rows
// are locked (SELECT … FOR UPDATE) from the read to the commit, so a record
// replaced meanwhile waits, or has already replaced them and its new rows,
// which the chunk then reads, are what fn sees. A render that fn returns
// empty is stored as NULL. progress, when not nil, gets the counts so far
// after each chunk. When ctx ends, CompileScripts returns ctx.Err() and the
// counts of the chunks it committed.
//
// body and render are valid only during the call of fn. A second run with
// the same fn changes nothing. Rows a PutRecord inserts behind the walk's
// position are not visited: they have the scripts their importer gave them.
func (db *DB) CompileScripts(ctx context.Context, fn callvault.ScriptFunc, progress func(callvault.ScriptStats)) (stats callvault.ScriptStats, _ error) {
	if fn == nil {
		return stats, callvault.Errorf(callvault.EINVALID, "A script function is required.")
	}
	c := &scriptChunk{maxRows: db.scriptRows, maxBytes: db.scriptBytes}
	if c.maxRows <= 0 {
		c.maxRows = scriptChunkRows
	}
	if c.maxBytes <= 0 {
		c.maxBytes = scriptChunkBytes
	}
	c.body.buf, c.render.buf = &c.arena, &c.arena
	c.dest = []any{&c.key.tenant, &c.key.record, &c.key.a, &c.key.b, &c.body, &c.render}
	for i := range scriptTables {
		t := &scriptTables[i]
		cursor := scriptKey{a: math.MinInt64, b: math.MinInt64}
		for {
			if err := ctx.Err(); err != nil {
				return stats, err
			}
			err := db.inTx(ctx, func(tx pgx.Tx) error {
				return c.run(ctx, tx, t, cursor, fn)
			})
			if err != nil {
				if ctx.Err() != nil {
					return stats, ctx.Err()
				}
				return stats, fmt.Errorf("postgres: compile %s scripts: %w", t.kind, err)
			}
			if c.sized == 0 {
				break // no row after the cursor
			} else if len(c.rows) == 0 {
				continue // the rows sized were deleted before they were locked: again, on what replaced them
			}
			stats.Rows += int64(len(c.rows))
			stats.Changed += c.changed
			cursor = c.rows[len(c.rows)-1].key
			if progress != nil {
				progress(stats)
			}
		}
	}
	return stats, nil
}

// scriptChunk is the state of CompileScripts, reused from chunk to chunk.
type scriptChunk struct {
	maxRows, maxBytes int

	// The scan targets of a row of scriptTable.lock.
	key          scriptKey
	body, render span
	dest         []any

	arena   []byte // the bodies and render scripts of the chunk
	rows    []scriptRow
	sized   int   // how many rows the first read found after the cursor, up to the budget
	changed int64 // rows of the chunk written
}

type scriptRow struct {
	key              scriptKey
	body0, body1     int
	render0, render1 int // render0 < 0: NULL
}

// run does one chunk of t from cursor in tx: reads and locks its rows, asks
// fn for their scripts and writes those that changed. It starts from
// scratch, so inTx may run it again.
func (c *scriptChunk) run(ctx context.Context, tx pgx.Tx, t *scriptTable, cursor scriptKey, fn callvault.ScriptFunc) error {
	if cap(c.arena) > 2*c.maxBytes {
		c.arena = nil // grown by a huge row: not kept for the rest of the walk
	}
	c.arena, c.rows, c.sized, c.changed = c.arena[:0], c.rows[:0], 0, 0

	// How many rows fit the budget: a first, light read.
	rows, err := tx.Query(ctx, t.sizes, cursor.args(t, c.maxRows)...)
	if err != nil {
		return err
	}
	n, total := 0, int64(0)
	for rows.Next() {
		var size int64
		if err := rows.Scan(&size); err != nil {
			rows.Close()
			return err
		}
		if n > 0 && total+size > int64(c.maxBytes) {
			break
		}
		n, total = n+1, total+size
	}
	rows.Close()
	if err := rows.Err(); err != nil || n == 0 {
		return err
	}
	c.sized = n

	// Those rows, locked. A row deleted since the first read is skipped and
	// a later one read instead, so the chunk may be a little larger or
	// smaller than the budget; it is never more than n rows.
	if rows, err = tx.Query(ctx, t.lock, cursor.args(t, n)...); err != nil {
		return err
	}
	for rows.Next() {
		if err := rows.Scan(c.dest...); err != nil {
			rows.Close()
			return err
		}
		c.rows = append(c.rows, scriptRow{key: c.key, body0: c.body.start, body1: c.body.end, render0: c.render.start, render1: c.render.end})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	// The scripts, written by as few statements as the budget of an array
	// insert allows, in one round trip.
	var (
		b                pgx.Batch
		size             chunk
		tenants, records []string
		as, bs           []int64
		renders          [][]byte
		queue            = func() {
			args := []any{tenants, records, as}
			if t.keys == 4 {
				args = append(args, bs)
			}
			b.Queue(t.update, append(args, renders)...)
			size, tenants, records, as, bs, renders = chunk{}, nil, nil, nil, nil, nil
		}
	)
	for i := range c.rows {
		r := &c.rows[i]
		var render []byte // nil for NULL, as ScriptFunc has it
		if r.render0 >= 0 && r.render0 < r.render1 {
			render = sub(c.arena, r.render0, r.render1)
		}
		scripts, changed := fn(t.kind, sub(c.arena, r.body0, r.body1), render)
		scripts = nullable(scripts)
		if !changed || bytes.Equal(scripts, render) {
			continue
		}
		tenants, records = append(tenants, r.key.tenant), append(records, r.key.record)
		as, bs, renders = append(as, r.key.a), append(bs, r.key.b), append(renders, scripts)
		c.changed++
		if size.add(scripts) {
			queue()
		}
	}
	if len(renders) > 0 {
		queue()
	}
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, &b).Close()
}
