package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
)

// checkpointer copies the WAL of bulk writes back into the database file on
// a connection of its own, beside the writer, so that a batch's commit does
// not wait for it.
//
// A checkpoint reads each page the WAL holds and writes it into the file,
// then syncs both files: on a bulk import it was a third of the writer's
// time (the CPU of the copy, and the two fsyncs, some 100 ms each on this
// machine's disk). In WAL mode a PASSIVE checkpoint runs while the writer
// appends; what it cannot do is start the WAL over while frames remain that
// it has not copied, which only the writer can, at the start of its next
// transaction. So the writer checkpoints too, less often
// (DB.noteWALGrowth): it copies what the checkpointer left (a batch or
// two) and the WAL starts over.
type checkpointer struct {
	db   *sql.DB    // one connection, on the database file
	mu   sync.Mutex // held by a checkpoint, the checkpointer's or the writer's
	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
	stop sync.Once
}

func newCheckpointer(db *sql.DB) *checkpointer {
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), done: make(chan struct{})}
	c.wg.Add(1)
	go c.run()
	return c
}

// poke asks for a checkpoint of what is committed now; a request made while
// one runs is served by the next.
func (c *checkpointer) poke() {
	if c == nil {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer c.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case <-c.kick:
		}
		// PASSIVE never waits for the writer or a reader: what it cannot copy
		// now, the next checkpoint (or the writer's) does.
		c.mu.Lock()
		_, err := c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		c.mu.Unlock()
		if err != nil {
			slog.Warn("sqlite: checkpoint", "err", err)
		}
	}
}

// close stops the checkpointer, after the checkpoint in progress. Closing
// it again does nothing.
func (c *checkpointer) close() (err error) {
	c.stop.Do(func() {
		close(c.done)
		c.wg.Wait()
		err = c.db.Close()
	})
	return err
}
