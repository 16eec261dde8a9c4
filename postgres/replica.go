package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callvault/callvault"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ReplicaOptions tunes how a DB uses its read replicas.
type ReplicaOptions struct {
	// MaxLag is how far behind the primary a replica may be and still take
	// reads; 0 for DefaultMaxLag.
	MaxLag time.Duration
	// CheckEvery is how often each replica's lag is measured; 0 for one
	// second.
	CheckEvery time.Duration
	// Logger says when a replica leaves or rejoins the rotation; nil for
	// none.
	Logger *slog.Logger
}

// DefaultMaxLag is the lag beyond which a replica takes no reads.
const DefaultMaxLag = 5 * time.Second

// replica is a streaming replica of the primary that takes reads while it
// is in rotation.
type replica struct {
	pool *pgxpool.Pool
	name string // the redacted URL, for logs and /readyz

	inRotation atomic.Bool
	// caughtUp is the time of the newest primary WAL sample the replica has
	// replayed (unix nanoseconds): it holds every commit made before then.
	caughtUp atomic.Int64
	reason   atomic.Pointer[string] // why it is out of rotation
	reads    atomic.Int64           // reads it answered, for the tests
}

// replicaSet is the replicas of a DB, and the goroutine measuring their lag.
type replicaSet struct {
	list []*replica
	next atomic.Uint64 // round robin
	opts ReplicaOptions

	// lastWrite holds, by tenant, when this DB last committed a record of
	// the tenant (unix nanoseconds): reads of that tenant go to a replica
	// only once it has caught up past it (read your own writes).
	lastWrite sync.Map

	samples []walSample // the primary's flushed WAL position over time, oldest first
	stop    context.CancelFunc
	done    chan struct{}
}

// walSample is the primary's flushed WAL position at a time.
type walSample struct {
	at  int64 // unix nanoseconds
	lsn uint64
}

// AddReplicas sends the DB's reads of call records, sessions, participants
// and report rows to the streaming replicas at dsns, in turn, while each is
// at most opts.MaxLag behind the primary; every write, and the reads of
// subscriptions, the outbox, mirror progress, buckets, secrets and quality
// rows, stay on the primary. A replica that is unreachable, lags, or is no
// longer in recovery (promoted) leaves the rotation until it is back; with
// none in rotation the primary takes the reads.
//
// A read sees this DB's own writes of the tenant: until a replica has
// replayed past them, the tenant's reads go to the primary. Another
// process's writes (callvault import, another serve) show on a replica at
// most MaxLag late.
//
// AddReplicas is called once, before the DB is used; Close stops the
// measuring.
func (db *DB) AddReplicas(ctx context.Context, dsns []string, opts ReplicaOptions) (err error) {
	if len(dsns) == 0 {
		return nil
	} else if db.replicas != nil {
		return errors.New("postgres: the replicas are already set")
	}
	if opts.MaxLag <= 0 {
		opts.MaxLag = DefaultMaxLag
	}
	if opts.CheckEvery <= 0 {
		opts.CheckEvery = time.Second
	}
	set := &replicaSet{opts: opts, done: make(chan struct{})}
	for _, dsn := range dsns {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			set.close()
			return fmt.Errorf("postgres: replica %s: the connection string is not valid: use postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?PARAMS]", Redact(dsn))
		}
		bufferReads(cfg)
		// A replica that does not answer now may later: it starts out of
		// rotation, and the first check says why.
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			set.close()
			return fmt.Errorf("postgres: replica %s: %w", Redact(dsn), err)
		}
		r := &replica{pool: pool, name: Redact(dsn)}
		why := "not checked yet"
		r.reason.Store(&why)
		set.list = append(set.list, r)
	}
	set.check(ctx, db.pool)
	var mctx context.Context
	mctx, set.stop = context.WithCancel(context.Background())
	go set.monitor(mctx, db.pool)
	db.replicas = set
	return nil
}

// Replicas reports each replica's state, in the order they were added
// (callvault.ReplicaReporter).
func (db *DB) Replicas() []callvault.ReplicaStatus {
	if db.replicas == nil {
		return nil
	}
	var out []callvault.ReplicaStatus
	for _, r := range db.replicas.list {
		s := callvault.ReplicaStatus{Name: r.name, InRotation: r.inRotation.Load()}
		if !s.InRotation {
			s.Reason = *r.reason.Load()
		}
		out = append(out, s)
	}
	return out
}

// close stops the measuring and closes the replicas' pools.
func (set *replicaSet) close() {
	if set.stop != nil {
		set.stop()
		<-set.done
	}
	for _, r := range set.list {
		r.pool.Close()
	}
}

// monitor checks the replicas every CheckEvery until ctx ends.
func (set *replicaSet) monitor(ctx context.Context, primary *pgxpool.Pool) {
	defer close(set.done)
	t := time.NewTicker(set.opts.CheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			set.check(ctx, primary)
		}
	}
}

// maxSamples bounds the WAL samples kept: at one a second, over an hour,
// far beyond any useful lag threshold.
const maxSamples = 4096

// check samples the primary's WAL position, then measures each replica
// against the samples: its lag is the age of the oldest sample it has not
// replayed. The primary's clock alone is used, so clocks need not agree.
func (set *replicaSet) check(ctx context.Context, primary *pgxpool.Pool) {
	ctx, cancel := context.WithTimeout(ctx, set.opts.CheckEvery+time.Second)
	defer cancel()
	now := time.Now().UnixNano()
	var text string
	if err := primary.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn()::TEXT`).Scan(&text); err == nil {
		if lsn, err := parseLSN(text); err == nil {
			set.samples = append(set.samples, walSample{at: now, lsn: lsn})
		}
	}
	if len(set.samples) > maxSamples {
		set.samples = set.samples[len(set.samples)-maxSamples:]
	}
	oldestNeeded := len(set.samples)
	for _, r := range set.list {
		i := set.measure(ctx, r, now)
		oldestNeeded = min(oldestNeeded, i)
	}
	// Keep the newest sample every replica has replayed, and all after it.
	if oldestNeeded > 1 {
		set.samples = set.samples[oldestNeeded-1:]
	}
}

// measure checks one replica and sets whether it is in rotation. It
// returns the index of the first sample the replica has not replayed.
func (set *replicaSet) measure(ctx context.Context, r *replica, now int64) int {
	var recovering bool
	var text *string
	err := r.pool.QueryRow(ctx, `SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::TEXT`).Scan(&recovering, &text)
	switch {
	case err != nil:
		set.out(r, "unreachable: "+firstLine(err.Error()))
		return len(set.samples)
	case !recovering || text == nil:
		set.out(r, "not a standby: it is not in recovery (promoted?)")
		return len(set.samples)
	}
	replayed, err := parseLSN(*text)
	if err != nil {
		set.out(r, "unreadable replay position "+*text)
		return len(set.samples)
	}
	i := 0
	for i < len(set.samples) && set.samples[i].lsn <= replayed {
		i++
	}
	if i > 0 {
		r.caughtUp.Store(set.samples[i-1].at)
	}
	lag := time.Duration(0)
	if i < len(set.samples) {
		lag = time.Duration(now - set.samples[i].at)
	}
	if lag > set.opts.MaxLag {
		set.out(r, fmt.Sprintf("lagging: %s behind the primary, more than %s", lag.Round(time.Millisecond), set.opts.MaxLag))
	} else if !r.inRotation.Swap(true) && set.opts.Logger != nil {
		set.opts.Logger.Info("read replica in rotation", "replica", r.name, "lag", lag.Round(time.Millisecond))
	}
	return i
}

// out takes r out of rotation for reason.
func (set *replicaSet) out(r *replica, reason string) {
	r.reason.Store(&reason)
	if r.inRotation.Swap(false) && set.opts.Logger != nil {
		set.opts.Logger.Warn("read replica out of rotation", "replica", r.name, "reason", reason)
	}
}

// wrote notes that this DB committed a write of tenant's records.
func (set *replicaSet) wrote(tenant string) {
	if set != nil {
		set.lastWrite.Store(tenant, time.Now().UnixNano())
	}
}

// pick returns a replica in rotation that holds this DB's writes of
// tenant, in turn; nil for none.
func (set *replicaSet) pick(tenant string) *replica {
	if set == nil {
		return nil
	}
	var since int64
	if v, ok := set.lastWrite.Load(tenant); ok {
		since = v.(int64)
	}
	n := uint64(len(set.list))
	start := set.next.Add(1)
	for k := range n {
		r := set.list[(start+k)%n]
		if r.inRotation.Load() && r.caughtUp.Load() >= since {
			return r
		}
	}
	return nil
}

// read runs fn on a replica that may take a read of tenant, or on the
// primary when none may. A replica that fails to answer leaves the
// rotation, and fn runs again on the primary: a read never fails for a
// replica's sake, but for one that had handed part of its answer on
// (visitedError).
func (db *DB) read(ctx context.Context, tenant string, fn func(q reader) error) error {
	if r := db.replicas.pick(tenant); r != nil {
		err := fn(r.pool)
		if err == nil || !unavailable(err) || ctx.Err() != nil {
			r.reads.Add(1)
			return err
		}
		db.replicas.out(r, "unreachable: "+firstLine(err.Error()))
		if errors.As(err, new(visitedError)) {
			return err // the caller has part of the answer: the primary's would repeat it
		}
	}
	err := fn(db.pool)
	db.failed(err)
	return err
}

// reader is what a read needs of a pool.
type reader interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// failed drops the primary's pooled connections when err says the server
// behind them is gone or no longer the primary, so that the next
// statements connect anew, to the server that is primary now (a multi-host
// URL with target_session_attrs=read-write, or a replica promoted behind
// the same address).
func (db *DB) failed(err error) {
	if err != nil && unavailable(err) {
		db.pool.Reset()
	}
}

// parseLSN parses a pg_lsn's text, such as 16/B374D848.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("not an LSN: %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, err
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, err
	}
	return h<<32 | l, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// unavailable reports whether err says that the database could not be
// reached or stopped serving, rather than that it refused the statement:
// the request may succeed later, or on another server.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection_exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			pe.Code == "25006": // read_only_sql_transaction: a primary demoted, a standby behind the URL
			return true
		}
		return false
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgx.ErrTxClosed) || pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed")
}
