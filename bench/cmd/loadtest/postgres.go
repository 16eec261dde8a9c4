package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/callvault/callvault/internal/loopback"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// defaultPostgres is the database the PostgreSQL cases use unless
// -postgres says otherwise: the machine's own server, a database of this
// program's (created when missing, filled on the first run).
const defaultPostgres = "postgres://root@127.0.0.1:5432/callvault_loadtest?sslmode=disable"

// postgresRun is the cases measured on callvault serve --db.
type postgresRun struct {
	url     string
	skipped string        // why there are no figures, or ""
	results []measurement // baseline: the SQLite run's of the same case
}

// checkPostgresURL refuses a database that is not on a loopback IP literal
// (loopback.PostgresURL) or that names no database.
func checkPostgresURL(raw string) (*url.URL, error) {
	if err := loopback.PostgresURL(raw); err != nil {
		return nil, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("%q names no database", raw)
	}
	return u, nil
}

// ensureDatabase connects to the database of u, creating it (from the
// server's "postgres" database) when it does not exist.
func ensureDatabase(ctx context.Context, u *url.URL) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err == nil {
		return conn.Close(ctx)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "3D000" { // invalid_catalog_name
		return err
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err = pgx.Connect(ctx, admin.String())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{strings.Trim(u.Path, "/")}.Sanitize())
	return err
}

// runPostgres measures the cases on callvault serve --db, each against the
// baseline of the SQLite run (the same bytes but for the next link's
// cursor). A server it cannot reach is skipped with the reason.
func runPostgres(ctx context.Context, c config, bin, work string, sqliteCases []testCase, sqliteResults []measurement, serveLog io.Writer, logf func(string, ...any)) (postgresRun, error) {
	run := postgresRun{url: c.postgres}
	u, err := checkPostgresURL(c.postgres)
	if err != nil {
		return run, fmt.Errorf("-postgres: %w", err)
	}
	logf("PostgreSQL: %s", u.Redacted())
	if err := ensureDatabase(ctx, u); err != nil {
		run.skipped = fmt.Sprintf("PostgreSQL at %s could not be used (%v); skipped", u.Host, err)
		logf("  %s", run.skipped)
		return run, nil
	}
	if err := migrate(ctx, bin, []string{"--db", c.postgres}, logf); err != nil {
		return run, err
	}
	tok, err := output(ctx, bin, "token", "--db", c.postgres, "--tenant", tenant, "--ttl", "24h")
	if err != nil {
		return run, err
	}
	header := http.Header{"Authorization": {"Bearer " + lastLine(tok)}}
	pg, err := startServer("callvault (PostgreSQL)", exec.Command(bin, "serve", "--db", c.postgres, "--data", filepath.Join(work, "pg-data"), "--addr", c.addr, "--log-level", c.logLevel), "callvault listening on ", serveLog)
	if err != nil {
		return run, err
	}
	defer pg.stop()
	logf("callvault serve --db pid %d on %s", pg.cmd.Process.Pid, pg.addr)
	if err := preparePostgres(ctx, c, bin, work, pg, header, logf); err != nil {
		return run, err
	}
	// The days an import made dirty, before serve's next refresh does it
	// beside the cases.
	if err := migrate(ctx, bin, []string{"--db", c.postgres}, logf); err != nil {
		return run, err
	}
	cases, _, err := capture(ctx, c, pg, header, logf)
	if err != nil {
		return run, err
	}
	for i, tc := range cases {
		if len(tc.expect.Body) != len(sqliteCases[i].expect.Body) {
			logf("  note: %s is %d bytes on PostgreSQL, %d on SQLite", tc.name, len(tc.expect.Body), len(sqliteCases[i].expect.Body))
		}
		l := &load{url: pg.url(tc.uri), pid: pg.cmd.Process.Pid, header: tc.headers(header), expect: tc.expect.expected, conns: c.conns, warmup: c.warmup, duration: c.duration, max: c.max}
		resetPeak(pg.cmd.Process.Pid)
		r := l.run(ctx)
		if ctx.Err() != nil {
			return run, ctx.Err()
		}
		if r.errors > 0 {
			return run, fmt.Errorf("%s, PostgreSQL: %d of %d requests failed; the first: %v", tc.name, r.errors, r.errors+r.requests, r.firstErr)
		}
		m := measurement{name: tc.name, conns: c.conns, baseline: sqliteResults[i].baseline, callvault: r, bytes: len(tc.expect.Body)}
		if mem, err := readMemory(pg.cmd.Process.Pid); err == nil {
			m.peak = mem.peak
		}
		logf("  %-34s %-9s %3d conns %7.0f req/s  p50 %8s  p99 %8s  CPU %s/req  load %.1f", tc.name, "postgres", c.conns, r.rate(), ms(r.quantile(0.5)), ms(r.quantile(0.99)), us(r.cpuPerRequest()), loadAverage())
		run.results = append(run.results, m)
	}
	return run, nil
}

// preparePostgres imports the data set into the database unless it holds
// it already (the big meeting with its number of sessions).
func preparePostgres(ctx context.Context, c config, bin, work string, pg *server, header http.Header, logf func(string, ...any)) error {
	status, _, body, err := fetch(ctx, pg.url("/v1.0/communications/callRecords/"+bigID+"/sessions/$count"), header)
	if err != nil {
		return err
	}
	switch {
	case status == http.StatusOK && strings.TrimSpace(string(body)) == strconv.Itoa(c.sessions):
		logf("  reusing the data set in PostgreSQL")
		return nil
	case status == http.StatusOK:
		return fmt.Errorf("the PostgreSQL database holds another data set (a meeting of %s sessions, not %d): drop it or name another with -postgres", body, c.sessions)
	case status != http.StatusNotFound:
		return fmt.Errorf("PostgreSQL: status %d: %.300s", status, body)
	}
	if err := importDataSet(ctx, c, bin, filepath.Join(work, "gen-pg"), []string{"--db", c.postgres}, logf); err != nil {
		return err
	}
	return settle(ctx, c.postgres, logf)
}

// settle has PostgreSQL write out and vacuum what an import left, as a
// running server's checkpoints and autovacuum would before long: measured
// at once, the cases would share the machine with the import's aftermath
// (its dirty buffers written, every row's hint bits set on first read),
// and moved by a fifth between runs. A role that may not CHECKPOINT (it
// needs pg_checkpoint or superuser) is told so and goes on.
func settle(ctx context.Context, dsn string, logf func(string, ...any)) error {
	start := time.Now()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return fmt.Errorf("vacuum after the import: %w", err)
	}
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		logf("  note: no CHECKPOINT after the import (%v): the first cases may share the machine with its writes", err)
	}
	logf("  vacuumed and checkpointed after the import, in %s", time.Since(start).Round(time.Millisecond))
	return nil
}
