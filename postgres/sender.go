package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// sendBytes bounds the arguments of one round trip of a record's writes.
// pgx encodes a batch's statements into one buffer before it sends them:
// unbounded, a meeting of 60,000 sessions made a buffer of half a
// gigabyte, grown by copying, which was most of its import's CPU.
const sendBytes = 16 << 20

// sender queues the statements of a transaction's writes and sends them in
// round trips of about sendBytes of arguments at most: one for an ordinary
// record, several for a large one. Like a bufio.Writer, the first error
// sticks: later statements are dropped, and flush returns it.
type sender struct {
	ctx   context.Context
	tx    pgx.Tx
	b     pgx.Batch
	bytes int
	err   error
}

func newSender(ctx context.Context, tx pgx.Tx) *sender { return &sender{ctx: ctx, tx: tx} }

// queue adds a statement whose arguments are about size bytes, and sends
// what is queued once that reaches sendBytes.
func (s *sender) queue(size int, sql string, args ...any) {
	if s.err != nil {
		return
	}
	s.b.Queue(sql, args...)
	if s.bytes += size; s.bytes >= sendBytes {
		s.flush()
	}
}

// flush sends what is queued and returns the first error of any round trip.
func (s *sender) flush() error {
	if s.err == nil && s.b.Len() > 0 {
		s.err = s.tx.SendBatch(s.ctx, &s.b).Close()
	}
	s.b, s.bytes = pgx.Batch{}, 0
	return s.err
}
