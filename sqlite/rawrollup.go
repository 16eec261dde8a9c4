package sqlite

import (
	"context"
	"unsafe"

	lib "modernc.org/sqlite/lib"
)

// The daily rollup's rows are read through the raw connections too
// (rawread.go): the overview over a period not asked before adds up some
// 340,000 of them at a million sessions, and through database/sql each
// column of each row took the driver's connection mutex and a copy, about
// a fifth of the overview's CPU each.

// eachRollup calls fn with each rollup row of a tenant's dimension on the
// days [from, to), of media ("" for every media), day by day, in one read
// transaction (qualitysql.Source.EachRollup). The value, media and counts
// fn gets are SQLite's memory, valid until fn returns.
func (db *DB) eachRollup(ctx context.Context, tenant, dim string, from, to int64, media string, fn func(day int64, value, media string, counts []byte) error) error {
	c, err := db.raw.get(ctx)
	if err != nil {
		return err
	}
	defer db.raw.put(c)
	return c.eachRollup(ctx, tenant, dim, from, to, media, fn)
}

func (c *rawConn) eachRollup(ctx context.Context, tenant, dim string, from, to int64, media string, fn func(day int64, value, media string, counts []byte) error) error {
	// sqlSelectRollupDay's parameters: tenant, dim, day, media.
	i, params := rawRollupDay, []int32{1, 2, 4}
	if media == "" {
		i, params = rawRollupDayAll, []int32{1, 2, 0}
	}
	s := c.stmts[i]
	bind := func() error { return c.bindTexts(s, params, tenant, dim, media) }
	return c.inReadBound(ctx, bind, func() error {
		for day := from; day < to; day++ {
			// Asked before each statement: an interrupt that arrives
			// before one starts is lost.
			if err := ctx.Err(); err != nil {
				return err
			}
			if rc := lib.Xsqlite3_bind_int64(c.tls, s, 3, day); rc != lib.SQLITE_OK {
				return c.errorOf(rc)
			}
			if err := c.eachRow(s, func() error {
				return fn(day, c.columnString(s, 0), c.columnString(s, 1), c.columnBytes(s, 2))
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

// eachRow steps s to its end, calling fn at each row, and resets it.
func (c *rawConn) eachRow(s uintptr, fn func() error) error {
	defer lib.Xsqlite3_reset(c.tls, s)
	for {
		switch rc := lib.Xsqlite3_step(c.tls, s); rc {
		case lib.SQLITE_ROW:
			if err := fn(); err != nil {
				return err
			}
		case lib.SQLITE_DONE:
			return nil
		default:
			return c.errorOf(rc)
		}
	}
}

// bindTexts copies the texts into c.key and binds each as the parameter of
// s its index in params says (0: none). end clears the bindings before
// c.key changes.
func (c *rawConn) bindTexts(s uintptr, params []int32, texts ...string) error {
	n := 0
	for _, t := range texts {
		n += len(t)
	}
	if err := c.growKey(n); err != nil {
		return err
	}
	at := c.key
	for i, t := range texts {
		if params[i] == 0 {
			continue
		}
		copy(cBytes(at, len(t)), t)
		if rc := lib.Xsqlite3_bind_text(c.tls, s, params[i], at, int32(len(t)), lib.SQLITE_STATIC); rc != lib.SQLITE_OK {
			return c.errorOf(rc)
		}
		at += uintptr(len(t))
	}
	return nil
}

// columnBytes is column i of the row of s, in SQLite's memory: a BLOB's or
// a TEXT's bytes.
func (c *rawConn) columnBytes(s uintptr, i int32) []byte {
	p := lib.Xsqlite3_column_blob(c.tls, s, i)
	return cBytes(p, int(lib.Xsqlite3_column_bytes(c.tls, s, i)))
}

// columnString is columnBytes as a string, in SQLite's memory too.
func (c *rawConn) columnString(s uintptr, i int32) string {
	b := c.columnBytes(s, i)
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
