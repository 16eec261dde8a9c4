package postgres

import (
	"bufio"
	"context"
	"net"

	"github.com/jackc/pgx/v5/pgxpool"
)

// readBuffer is how much of what PostgreSQL sends a connection reads at
// once. pgx reads its socket 8 KB at a time; a page of 60 sessions with
// segments is about a megabyte of rows, so that was some 125 read
// syscalls a page, and on a virtual machine a syscall is dear
// (docs/performance.md). With a buffer this size a read takes whatever
// the kernel holds, up to 128 KiB.
const readBuffer = 128 << 10

// bufferReads makes the pool's connections read through readBuffer.
func bufferReads(cfg *pgxpool.Config) {
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBuffer)}, nil
	}
}

// bufferedConn reads through a buffer. Deadlines still hold: a read that
// the buffer cannot answer is the connection's.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
