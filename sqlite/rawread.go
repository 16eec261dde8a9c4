package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/callvault/callvault"
	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// ListSessions reads through SQLite's C API on connections of its own
// (rawPool) rather than through database/sql. A page with segments is ~130
// rows and ~500 KB of bodies; profiled through the driver (BenchmarkStoreRows)
// SQLite's own work was a quarter of the CPU. The rest: every column access
// entering and leaving the connection's mutex (the driver opens each
// connection FULLMUTEX, and libc's emulated pthread mutexes cost ~20 % of the
// total), a new zeroed slice per body and a copy into it (~25 %),
// database/sql's locking and conversions, and the GC of ~500 KB a page
// (~12 %). Here a connection opens NOMUTEX, as one goroutine uses it at a
// time, and each body is copied once, straight from SQLite's memory into the
// caller's arena: that page went from ~310 to ~70 µs of CPU, and from 626
// allocations to 6.

// The raw statements of a connection, prepared once when it opens.
const (
	rawBegin = iota
	rawCommit
	rawRollback
	rawSessions
	rawSegments
	rawStamp
	rawRollupDay
	rawRollupDayAll
	rawStatements
)

var rawSQL = [rawStatements]string{
	rawBegin:    "BEGIN", // deferred: the read transaction starts with the first SELECT
	rawCommit:   "COMMIT",
	rawRollback: "ROLLBACK",
	rawSessions: sqlSelectSessions,
	rawSegments: sqlSelectSegments,
	rawStamp:    sqlRecordStamp,
	// The rollup's rows (rawrollup.go).
	rawRollupDay:    sqlSelectRollupDay,
	rawRollupDayAll: sqlSelectRollupDayAll,
}

// errClosed is the error of a read after Close.
var errClosed = errors.New("database is closed")

// rawConnsOpen counts the raw connections of the process whose TLS and
// handle are not freed yet, for the tests' leak checks.
var rawConnsOpen atomic.Int64

// rawPool is a bounded pool of read-only raw connections, opened lazily.
type rawPool struct {
	name  string        // the file: URI of the database
	slots chan struct{} // a token for each connection checked out

	mu     sync.Mutex
	idle   []*rawConn
	closed bool
}

func newRawPool(name string, size int) *rawPool {
	return &rawPool{name: name, slots: make(chan struct{}, size)}
}

// get checks a connection out for one read, opening one when none is idle.
// It waits while size connections are checked out.
func (p *rawPool) get(ctx context.Context) (*rawConn, error) {
	select {
	case p.slots <- struct{}{}:
	default:
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		return nil, errClosed
	}
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	c, err := openRaw(p.name)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// put returns a connection that get checked out; a broken one is closed.
func (p *rawPool) put(c *rawConn) {
	if c.broken {
		c.close()
	} else {
		p.mu.Lock()
		p.idle = append(p.idle, c)
		p.mu.Unlock()
	}
	<-p.slots
}

// close refuses new reads, waits for those in progress to return their
// connections, and closes every connection.
func (p *rawPool) close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	// Holding every slot, no read is in progress.
	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
	var errs []error
	for _, c := range p.idle {
		errs = append(errs, c.close())
	}
	p.idle = nil
	// A get waiting for a slot takes one and sees closed.
	for range cap(p.slots) {
		<-p.slots
	}
	return errors.Join(errs...)
}

// rawConn is one read-only connection with its own libc.TLS. Only the
// goroutine that checked it out uses it, so SQLite's connection mutex is off.
type rawConn struct {
	tls   *libc.TLS
	db    uintptr // *sqlite3
	stmts [rawStatements]uintptr

	// key holds the tenant and record id of the read in progress, bound with
	// SQLITE_STATIC: it stays put until the bindings are cleared.
	key    uintptr
	keyCap int

	// interrupt (c.interruptRead, made once) is what context.AfterFunc runs
	// once the context of the read is done; it then sends on fired.
	interrupt func()
	fired     chan struct{}

	broken bool // in a state a read cannot reuse: closed by put

	// last is how many bytes the last read appended to its arena (up to a
	// bound): the next page is likely the same size, and growing to it at
	// once spares the copies and the fresh memory of doubling (see reserve).
	last int

	// Scratch reused by each read: the page's rows as offsets (sessions, then
	// segments) and their ids.
	rows []rawRow
	ids  []byte
}

// rawRow is a session or segment as offsets into the read's arena and ids.
type rawRow struct {
	seq              int64 // the session's, or the segment's session's
	idEnd            int   // the id is ids[previous row's idEnd:idEnd]
	body0, body1     int
	render0, render1 int // render0 < 0: none
}

// openRaw opens a read-only connection to the database named by the file:
// URI name and prepares its statements.
func openRaw(name string) (_ *rawConn, err error) {
	c := &rawConn{tls: libc.NewTLS(), fired: make(chan struct{}, 1)}
	rawConnsOpen.Add(1)
	c.interrupt = c.interruptRead
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	zName, err := libc.CString(name)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, zName)
	pp := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	*(*uintptr)(cPointer(pp)) = 0
	rc := lib.Xsqlite3_open_v2(c.tls, zName, pp, lib.SQLITE_OPEN_READONLY|lib.SQLITE_OPEN_NOMUTEX|lib.SQLITE_OPEN_URI, 0)
	// On failure too SQLite may allocate a handle, which holds the message
	// and must be closed (c.close does).
	c.db = *(*uintptr)(cPointer(pp))
	if rc != lib.SQLITE_OK {
		return nil, c.errorOf(rc)
	}
	if rc := lib.Xsqlite3_extended_result_codes(c.tls, c.db, 1); rc != lib.SQLITE_OK {
		return nil, c.errorOf(rc)
	}
	if rc := lib.Xsqlite3_busy_timeout(c.tls, c.db, busyTimeoutMillis); rc != lib.SQLITE_OK {
		return nil, c.errorOf(rc)
	}
	// Without the query planner stability guarantee the planner reads the
	// values bound to the key and the LIMIT, and each read's new bindings
	// (or clear_bindings) expire the statements: every step then prepared
	// them again, which cost more than the rest of the read.
	if rc := c.dbConfigBool(lib.SQLITE_DBCONFIG_ENABLE_QPSG, true); rc != lib.SQLITE_OK {
		return nil, c.errorOf(rc)
	}
	for i, sql := range rawSQL {
		if c.stmts[i], err = c.prepare(sql); err != nil {
			return nil, fmt.Errorf("prepare %q: %w", sql, err)
		}
	}
	return c, nil
}

// dbConfigBool calls sqlite3_db_config(db, op, onoff, NULL), whose
// arguments libc.VaList passes in 8-byte slots.
func (c *rawConn) dbConfigBool(op int32, on bool) int32 {
	ap := c.tls.Alloc(2 * 8)
	defer c.tls.Free(2 * 8)
	return lib.Xsqlite3_db_config(c.tls, c.db, op, libc.VaList(ap, libc.Bool32(on), uintptr(0)))
}

func (c *rawConn) prepare(sql string) (uintptr, error) {
	zSQL, err := libc.CString(sql)
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(c.tls, zSQL)
	pp := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	if rc := lib.Xsqlite3_prepare_v3(c.tls, c.db, zSQL, -1, lib.SQLITE_PREPARE_PERSISTENT, pp, 0); rc != lib.SQLITE_OK {
		return 0, c.errorOf(rc)
	}
	return *(*uintptr)(cPointer(pp)), nil
}

// close finalizes the statements and closes the connection, freeing its C
// memory and TLS.
func (c *rawConn) close() error {
	var err error
	for i, s := range c.stmts {
		if s != 0 {
			lib.Xsqlite3_finalize(c.tls, s)
			c.stmts[i] = 0
		}
	}
	if c.db != 0 {
		if rc := lib.Xsqlite3_close_v2(c.tls, c.db); rc != lib.SQLITE_OK {
			err = c.errorOf(rc)
		}
		c.db = 0
	}
	if c.key != 0 {
		libc.Xfree(c.tls, c.key)
		c.key, c.keyCap = 0, 0
	}
	if c.tls != nil {
		c.tls.Close()
		c.tls = nil
		rawConnsOpen.Add(-1)
	}
	return err
}

// interruptRead stops the read in progress; see listSessions.
func (c *rawConn) interruptRead() {
	// A TLS of its own: c.tls is the reading goroutine's.
	tls := libc.NewTLS()
	lib.Xsqlite3_interrupt(tls, c.db)
	tls.Close()
	c.fired <- struct{}{}
}

// sqliteError is an error SQLite returned on a raw connection, worded as the
// driver words its errors.
type sqliteError struct {
	code int32
	msg  string
}

func (e *sqliteError) Error() string { return e.msg }

// Code returns SQLite's (extended) result code.
func (e *sqliteError) Code() int { return int(e.code) }

func (c *rawConn) errorOf(rc int32) error {
	str := libc.GoString(lib.Xsqlite3_errstr(c.tls, rc))
	if c.db != 0 {
		if msg := libc.GoString(lib.Xsqlite3_errmsg(c.tls, c.db)); msg != str {
			return &sqliteError{rc, fmt.Sprintf("%s: %s (%d)", str, msg, rc)}
		}
	}
	return &sqliteError{rc, fmt.Sprintf("%s (%d)", str, rc)}
}

// exec runs one of the statements that return no rows.
func (c *rawConn) exec(i int) error {
	s := c.stmts[i]
	rc := lib.Xsqlite3_step(c.tls, s)
	lib.Xsqlite3_reset(c.tls, s)
	if rc != lib.SQLITE_DONE {
		return c.errorOf(rc)
	}
	return nil
}

// bindKey copies tenant and id into c.key and binds them as parameters 1 and
// 2 of the statements that take them.
func (c *rawConn) bindKey(tenant, id string) error {
	if err := c.growKey(len(tenant) + len(id)); err != nil {
		return err
	}
	copy(cBytes(c.key, len(tenant)), tenant)
	copy(cBytes(c.key+uintptr(len(tenant)), len(id)), id)
	for _, i := range [...]int{rawSessions, rawSegments, rawStamp} {
		s := c.stmts[i]
		if rc := lib.Xsqlite3_bind_text(c.tls, s, 1, c.key, int32(len(tenant)), lib.SQLITE_STATIC); rc != lib.SQLITE_OK {
			return c.errorOf(rc)
		}
		if rc := lib.Xsqlite3_bind_text(c.tls, s, 2, c.key+uintptr(len(tenant)), int32(len(id)), lib.SQLITE_STATIC); rc != lib.SQLITE_OK {
			return c.errorOf(rc)
		}
	}
	return nil
}

// growKey makes c.key hold at least n bytes, and one: a text bound from
// it never has a NULL pointer, which SQLite would read as NULL.
func (c *rawConn) growKey(n int) error {
	n = max(n, 1)
	if n <= c.keyCap {
		return nil
	}
	p := libc.Xmalloc(c.tls, libc.Tsize_t(n))
	if p == 0 {
		return fmt.Errorf("cannot allocate %d bytes of memory", n)
	}
	if c.key != 0 {
		libc.Xfree(c.tls, c.key)
	}
	c.key, c.keyCap = p, n
	return nil
}

// rawBetweenStatements, when set (by tests), runs after a read's sessions
// are read and before its next statement.
var rawBetweenStatements func()

// listSessions reads a page of q as ListSessions does, in one read
// transaction, copying bodies and render scripts into q.Arena.
func (c *rawConn) listSessions(ctx context.Context, q *callvault.SessionQuery) (page *callvault.SessionPage, err error) {
	err = c.inRead(ctx, q, func() error {
		page, err = c.readPage(ctx, q)
		return err
	})
	return page, err
}

// inRead runs read in one read transaction with the key of q bound, ending
// the transaction whatever happens; ctx's end interrupts the statement
// that runs, and its error is the read's.
func (c *rawConn) inRead(ctx context.Context, q *callvault.SessionQuery, read func() error) (err error) {
	return c.inReadBound(ctx, func() error { return c.bindKey(q.Tenant, q.RecordID) }, read)
}

// inReadBound is inRead with bind, which binds the read's parameters, in
// place of the key of a SessionQuery.
func (c *rawConn) inReadBound(ctx context.Context, bind func() error, read func() error) (err error) {
	if ctx.Done() != nil {
		// sqlite3_interrupt stops a running statement; one that starts
		// after it clears it, so ctx is also asked between statements.
		stop := context.AfterFunc(ctx, c.interrupt)
		defer func() {
			if !stop() {
				<-c.fired // the interrupt has run: the next read may start
			}
		}()
	}
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = ctx.Err()
		}
	}()
	if err := bind(); err != nil {
		c.end(false)
		return err
	}
	if err := c.exec(rawBegin); err != nil {
		c.end(false)
		return err
	}
	defer func() {
		if cerr := c.end(err == nil); err == nil {
			err = cerr
		}
	}()
	return read()
}

// readPage is listSessions inside its read transaction.
func (c *rawConn) readPage(ctx context.Context, q *callvault.SessionQuery) (*callvault.SessionPage, error) {
	stamp, err := c.stamp(q.RecordID)
	if err != nil {
		return nil, err
	} else if q.Known != 0 && stamp == q.Known {
		return &callvault.SessionPage{Stamp: stamp, Unchanged: true}, nil
	}
	arena, more, err := c.findSessions(ctx, q, q.Arena)
	if err != nil {
		return nil, err
	}
	sessions := len(c.rows)
	if rawBetweenStatements != nil {
		rawBetweenStatements()
	}
	// Asked before each statement: an interrupt that arrives before one
	// starts is lost.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if sessions > 0 && q.Segments {
		if arena, err = c.findSegments(arena); err != nil {
			return nil, err
		}
	}
	c.last = min(len(arena)-len(q.Arena), 4<<20)
	page := c.page(arena, sessions, more)
	page.Stamp = stamp
	return page, nil
}

// reserve returns arena with room for a page the size of the last, growing
// it (once) when it has not: a caller without an arena of its own, with
// doubling alone, would have a page of 500 KB allocate 1 MB in 6 steps and
// copy half of it, costing more than the read.
func (c *rawConn) reserve(arena []byte) []byte {
	if cap(arena)-len(arena) >= c.last {
		return arena
	}
	grown := make([]byte, len(arena), len(arena)+c.last+c.last/8)
	copy(grown, arena)
	return grown
}

// end resets the statements, clears their bindings and ends the transaction
// (COMMIT when commit is set, else ROLLBACK). A connection left in a
// transaction is marked broken.
func (c *rawConn) end(commit bool) error {
	for _, s := range c.stmts {
		lib.Xsqlite3_reset(c.tls, s)
		lib.Xsqlite3_clear_bindings(c.tls, s)
	}
	// Keep the scratch for the next read unless a huge page grew it.
	if cap(c.rows) > 4096 {
		c.rows = nil
	}
	if cap(c.ids) > 256<<10 {
		c.ids = nil
	}
	if lib.Xsqlite3_get_autocommit(c.tls, c.db) != 0 {
		return nil
	}
	var err error
	if commit {
		err = c.exec(rawCommit)
	}
	if lib.Xsqlite3_get_autocommit(c.tls, c.db) == 0 {
		c.exec(rawRollback)
	}
	if lib.Xsqlite3_get_autocommit(c.tls, c.db) == 0 {
		c.broken = true
		if err == nil {
			err = errors.New("the read transaction did not end")
		}
	}
	return err
}

// visitSessions reads a page of q as listSessions does, in one read
// transaction, but copies nothing: v gets each session, then each of its
// segments, while SQLite holds them. Both statements step side by side,
// in session order.
func (c *rawConn) visitSessions(ctx context.Context, q *callvault.SessionQuery, v callvault.SessionVisitor) (more bool, err error) {
	err = c.inRead(ctx, q, func() error {
		more, err = c.visitPage(ctx, q, v)
		return err
	})
	return more, err
}

// visitPage is visitSessions inside its read transaction.
func (c *rawConn) visitPage(ctx context.Context, q *callvault.SessionQuery, v callvault.SessionVisitor) (more bool, err error) {
	stamp, err := c.stamp(q.RecordID)
	if err != nil {
		return false, err
	}
	v.Stamp(stamp)
	if q.Known != 0 && stamp == q.Known {
		return false, nil
	}
	ss, gs := c.stmts[rawSessions], c.stmts[rawSegments]
	if rc := lib.Xsqlite3_bind_int64(c.tls, ss, 3, q.After); rc != lib.SQLITE_OK {
		return false, c.errorOf(rc)
	}
	if rc := lib.Xsqlite3_bind_int64(c.tls, ss, 4, pageFetch(q.Limit)); rc != lib.SQLITE_OK {
		return false, c.errorOf(rc)
	}
	if q.Segments {
		// No upper bound: the range is read only as far as the sessions go.
		if rc := lib.Xsqlite3_bind_int64(c.tls, gs, 3, q.After+1); rc != lib.SQLITE_OK {
			return false, c.errorOf(rc)
		}
		if rc := lib.Xsqlite3_bind_int64(c.tls, gs, 4, math.MaxInt64); rc != lib.SQLITE_OK {
			return false, c.errorOf(rc)
		}
	}
	n := 0
	seg := int32(0) // the segments statement's last step; 0 before the first
	for {
		rc := lib.Xsqlite3_step(c.tls, ss)
		if rc == lib.SQLITE_DONE {
			break
		} else if rc != lib.SQLITE_ROW {
			return false, c.errorOf(rc)
		}
		if n == q.Limit {
			more = true // the row after the page: that it exists is all we need
			break
		}
		n++
		seq := lib.Xsqlite3_column_int64(c.tls, ss, 0)
		body, render := c.columns(ss)
		if err := v.Session(seq, body, render); err != nil {
			return false, err
		}
		if !q.Segments {
			continue
		}
		if seg == 0 {
			seg = lib.Xsqlite3_step(c.tls, gs)
		}
		for seg == lib.SQLITE_ROW {
			s := lib.Xsqlite3_column_int64(c.tls, gs, 0)
			if s > seq {
				break // the next session's
			}
			if s == seq {
				body, render := c.columns(gs)
				if err := v.Segment(body, render); err != nil {
					return false, err
				}
			}
			seg = lib.Xsqlite3_step(c.tls, gs)
		}
		if seg != lib.SQLITE_ROW && seg != lib.SQLITE_DONE {
			return false, c.errorOf(seg)
		}
	}
	if n == 0 {
		return false, ctx.Err()
	}
	return more, nil
}

// columns returns the body and render of the row of s, (seq, id, body,
// render), as SQLite's memory: valid until s steps again.
func (c *rawConn) columns(s uintptr) (body, render []byte) {
	p := lib.Xsqlite3_column_blob(c.tls, s, 2)
	body = cBytes(p, int(lib.Xsqlite3_column_bytes(c.tls, s, 2)))
	if p = lib.Xsqlite3_column_blob(c.tls, s, 3); p != 0 {
		render = cBytes(p, int(lib.Xsqlite3_column_bytes(c.tls, s, 3)))
	}
	return body, render
}

// findSessions reads at most q.Limit sessions after q.After into c.rows,
// appending their bodies and render scripts to arena, and learns from one
// more row whether the page is the last.
func (c *rawConn) findSessions(ctx context.Context, q *callvault.SessionQuery, arena []byte) (_ []byte, more bool, err error) {
	c.rows, c.ids = c.rows[:0], c.ids[:0]
	if err := ctx.Err(); err != nil {
		return arena, false, err
	}
	s := c.stmts[rawSessions]
	if rc := lib.Xsqlite3_bind_int64(c.tls, s, 3, q.After); rc != lib.SQLITE_OK {
		return arena, false, c.errorOf(rc)
	}
	if rc := lib.Xsqlite3_bind_int64(c.tls, s, 4, pageFetch(q.Limit)); rc != lib.SQLITE_OK {
		return arena, false, c.errorOf(rc)
	}
	for {
		switch rc := lib.Xsqlite3_step(c.tls, s); rc {
		case lib.SQLITE_ROW:
			if len(c.rows) == q.Limit {
				lib.Xsqlite3_reset(c.tls, s)
				return arena, true, nil // the row after the page: that it exists is all we need
			}
			if len(c.rows) == 0 {
				// Only a page with rows needs room: a 404 or an empty page
				// must not allocate for the last page's size.
				arena = c.reserve(arena)
			}
			arena = c.scanRow(s, arena)
		case lib.SQLITE_DONE:
			lib.Xsqlite3_reset(c.tls, s)
			return arena, false, nil
		default:
			return arena, false, c.errorOf(rc)
		}
	}
}

// findSegments reads the segments of the sessions in c.rows, whose seqs are
// in order, in one range query, appending them to c.rows.
func (c *rawConn) findSegments(arena []byte) ([]byte, error) {
	s := c.stmts[rawSegments]
	if rc := lib.Xsqlite3_bind_int64(c.tls, s, 3, c.rows[0].seq); rc != lib.SQLITE_OK {
		return arena, c.errorOf(rc)
	}
	if rc := lib.Xsqlite3_bind_int64(c.tls, s, 4, c.rows[len(c.rows)-1].seq); rc != lib.SQLITE_OK {
		return arena, c.errorOf(rc)
	}
	for {
		switch rc := lib.Xsqlite3_step(c.tls, s); rc {
		case lib.SQLITE_ROW:
			arena = c.scanRow(s, arena)
		case lib.SQLITE_DONE:
			lib.Xsqlite3_reset(c.tls, s)
			return arena, nil
		default:
			return arena, c.errorOf(rc)
		}
	}
}

// scanRow appends the row of s, (seq, id, body, render), to c.rows, its id
// to c.ids and its body and render to arena. column_blob gives the bytes of
// a TEXT value as well as a BLOB's.
func (c *rawConn) scanRow(s uintptr, arena []byte) []byte {
	r := rawRow{seq: lib.Xsqlite3_column_int64(c.tls, s, 0), render0: -1}
	p := lib.Xsqlite3_column_blob(c.tls, s, 1)
	c.ids = append(c.ids, cBytes(p, int(lib.Xsqlite3_column_bytes(c.tls, s, 1)))...)
	r.idEnd = len(c.ids)
	p = lib.Xsqlite3_column_blob(c.tls, s, 2)
	r.body0 = len(arena)
	arena = appendC(arena, p, int(lib.Xsqlite3_column_bytes(c.tls, s, 2)))
	r.body1 = len(arena)
	// NULL (and, as the insert never stores one, empty) is no render.
	if p = lib.Xsqlite3_column_blob(c.tls, s, 3); p != 0 {
		r.render0 = len(arena)
		arena = appendC(arena, p, int(lib.Xsqlite3_column_bytes(c.tls, s, 3)))
		r.render1 = len(arena)
	}
	c.rows = append(c.rows, r)
	return arena
}

// stamp returns the record's stamp, or an ENOTFOUND error when the tenant
// has no such record. It is read first, in the page's read transaction:
// the sessions then read are of the record that has it.
func (c *rawConn) stamp(id string) (int64, error) {
	s := c.stmts[rawStamp]
	rc := lib.Xsqlite3_step(c.tls, s)
	var stamp int64
	if rc == lib.SQLITE_ROW {
		stamp = lib.Xsqlite3_column_int64(c.tls, s, 0)
	}
	lib.Xsqlite3_reset(c.tls, s)
	switch rc {
	case lib.SQLITE_ROW:
		return stamp, nil
	case lib.SQLITE_DONE:
		return 0, notFound(id)
	}
	return 0, c.errorOf(rc)
}

// page builds the page from c.rows, of which the first n are sessions and
// the rest segments, slicing the bodies from arena now that it has stopped
// growing, and the ids from one string.
func (c *rawConn) page(arena []byte, n int, more bool) *callvault.SessionPage {
	ids := string(c.ids)
	page := &callvault.SessionPage{Sessions: make([]callvault.SessionRow, n), More: more, Arena: arena}
	id0 := 0
	for i, r := range c.rows[:n] {
		page.Sessions[i] = callvault.SessionRow{Seq: r.seq, ID: ids[id0:r.idEnd], Body: sub(arena, r.body0, r.body1), Render: r.render(arena)}
		id0 = r.idEnd
	}
	// The page's segments, in order, in one slice that the sessions share;
	// each is attached to its session, in order.
	rows := c.rows[n:]
	if len(rows) > 0 {
		all := make([]callvault.Segment, 0, len(rows))
		i, from := 0, 0 // the session the last segment belonged to, and where its segments start in all
		for _, r := range rows {
			for i < n && page.Sessions[i].Seq < r.seq {
				i++
				from = len(all)
			}
			if i < n && page.Sessions[i].Seq == r.seq {
				all = append(all, callvault.Segment{ID: ids[id0:r.idEnd], Body: sub(arena, r.body0, r.body1), Render: r.render(arena)})
				page.Sessions[i].Segments = all[from:len(all):len(all)]
			}
			id0 = r.idEnd
		}
	}
	return page
}

func (r *rawRow) render(arena []byte) []byte {
	if r.render0 < 0 {
		return nil
	}
	return sub(arena, r.render0, r.render1)
}

// sub returns arena[i:j] with its capacity cut, so that an append to it
// cannot write over what follows; nil when empty, as the driver reads an
// empty BLOB.
func sub(arena []byte, i, j int) []byte {
	if i == j {
		return nil
	}
	return arena[i:j:j]
}

// appendC appends the n bytes of C memory at p to arena. It doubles a full
// arena itself: append grows a large slice by a quarter, which would copy
// a page's bodies several times over.
func appendC(arena []byte, p uintptr, n int) []byte {
	if n <= 0 || p == 0 {
		return arena
	}
	if len(arena)+n > cap(arena) {
		grown := make([]byte, len(arena), max(2*cap(arena), len(arena)+n, 16<<10))
		copy(grown, arena)
		arena = grown
	}
	return append(arena, cBytes(p, n)...)
}

// cPointer turns a C address (memory of libc's allocator, outside the Go
// heap) into a pointer.
func cPointer(p uintptr) unsafe.Pointer { return unsafe.Add(nil, p) }

// cBytes returns the n bytes of C memory at p.
func cBytes(p uintptr, n int) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(cPointer(p)), n)
}
