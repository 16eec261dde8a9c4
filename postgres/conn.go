package postgres

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// compressLZ4 makes the pool's connections compress the large values they
// write with lz4 rather than PostgreSQL's default pglz: a segment's body
// is 3 to 9 KB of JSON, which TOAST compresses, and every page of
// sessions with segments decompresses some seventy of them. Measured on
// the load test's page (docs/performance.md, fifteenth round): pglz cost
// PostgreSQL about 1.6 ms of CPU a page and lz4 about 1.0, and lz4
// compresses an import's bodies three times faster, for some 7 % more
// bytes in segments.
//
// It is the session's default_toast_compression, set after connecting, so
// a column's own COMPRESSION (ALTER TABLE … SET COMPRESSION) still wins,
// and a default_toast_compression in the connection string is left as the
// operator gave it. Servers without it (before PostgreSQL 14, CockroachDB)
// are not asked; one that refuses it (built without lz4) is not asked
// again, and keeps its default.
func compressLZ4(cfg *pgxpool.Config) {
	if _, ok := cfg.ConnConfig.RuntimeParams["default_toast_compression"]; ok {
		return
	}
	var refused atomic.Bool
	after := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if after != nil {
			if err := after(ctx, c); err != nil {
				return err
			}
		}
		pc := c.PgConn()
		if refused.Load() || pc.ParameterStatus("crdb_version") != "" || serverMajor(pc.ParameterStatus("server_version")) < 14 {
			return nil
		}
		_, err := pc.Exec(ctx, "SET default_toast_compression = lz4").ReadAll()
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			refused.Store(true) // the server answered: the connection is sound
			return nil
		}
		return err
	}
}

// serverMajor returns the major version of a server_version such as
// "15.20 (Debian 15.20-0+deb12u1)" or "17beta1"; 0 when it has none.
func serverMajor(v string) int {
	n := 0
	for i := 0; i < len(v) && v[i] >= '0' && v[i] <= '9' && n < 1e6; i++ {
		n = n*10 + int(v[i]-'0')
	}
	return n
}
