// Command importbench measures bulk import into SQLite: generated call
// records (package synth) imported by ingest.Importer, against baselines
// measured in the same run on the same rows.
//
//	go run ./bench/cmd/importbench -sessions 1000000
//
// It writes the JSON Lines to a temporary file first (or reads -in), then
// measures, each on a fresh database in the temporary directory:
//
//   - validate: ingest.Normalizer over the file on one goroutine, storing
//     nothing (the cost of the schema check and canonical form);
//   - raw insert: the same records, validated beforehand in chunks outside
//     the clock, stored by sqlite.DB.PutRecords (the store's floor; with
//     -raw-per-record, by PutRecord one transaction each, as before batches);
//   - import: ingest.Importer from the file, as callvault import runs it;
//   - importsub: the same into a database whose tenant has -subscriptions
//     change-notification subscriptions, so that every record also writes
//     its notifications to the outbox in its transaction. With import in
//     the same run, the ratio of the two is printed.
//
// Each phase runs in a process of its own, so that its peak resident set
// (which includes SQLite's page cache, outside the Go heap) is its own. For
// each it prints sessions/s, CPU seconds (user+system) and the peak RSS and
// Go heap (sampled every 10 ms through runtime/metrics, which does not stop
// the world).
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/ingest"
	"github.com/callvault/callvault/sqlite"
	"github.com/callvault/callvault/synth"
)

const tenant = "9b1c2f4e-0b8a-4c9e-8f3a-5d6e7f8a9b0c"

func main() {
	sessions := flag.Int("sessions", 100000, "generate records until they hold at least this many sessions")
	seed := flag.Int64("seed", 1, "the generator's seed")
	in := flag.String("in", "", "import this JSON Lines file instead of generating one")
	dir := flag.String("dir", "", "the directory for the file and the databases (default: a new temporary one)")
	phases := flag.String("phases", "validate,raw,import", "the phases to run, comma-separated: validate, raw, rawrecord, import, importsub")
	flag.IntVar(&subscriptions, "subscriptions", subscriptions, "importsub: how many subscriptions the tenant has")
	flag.IntVar(&workers, "workers", workers, "import: how many goroutines validate (the Importer's Workers; 0: GOMAXPROCS)")
	flag.IntVar(&batchBytes, "batch-bytes", batchBytes, "store the records in batches of about this many bytes of input (the Importer's BatchBytes)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of each phase to this file name with the phase's name appended (.raw, .import, …)")
	traceFile := flag.String("trace", "", "write an execution trace of each phase to this file name with the phase's name appended, for go tool trace (where the pipeline waits)")
	child := flag.String("child", "", "run this one phase on -in and -dir and print its result (used by the parent)")
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()

	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "importbench-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		work = d
	}
	file := *in
	if file == "" {
		file = filepath.Join(work, "records.jsonl")
		start := time.Now()
		st, err := generate(file, *seed, *sessions)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("generated %d records, %d sessions, %d segments, %.2f GiB in %s\n",
			st.Records, st.Sessions, st.Segments, float64(st.Bytes)/(1<<30), time.Since(start).Round(time.Millisecond))
	}
	if *child == "" {
		fmt.Printf("GOMAXPROCS %d, %s\n", runtime.GOMAXPROCS(0), runtime.Version())
		for _, p := range splitComma(*phases) {
			args := []string{"-child", p, "-in", file, "-dir", work, "-batch-bytes", fmt.Sprint(batchBytes), "-workers", fmt.Sprint(workers), "-subscriptions", fmt.Sprint(subscriptions)}
			if *cpuprofile != "" {
				args = append(args, "-cpuprofile", *cpuprofile)
			}
			if *traceFile != "" {
				args = append(args, "-trace", *traceFile)
			}
			cmd := exec.Command(os.Args[0], args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = io.MultiWriter(os.Stdout, &out), os.Stderr
			if err := cmd.Run(); err != nil {
				log.Fatalf("%s: %v", p, err)
			}
			var rate float64
			if _, err := fmt.Sscanf(strings.TrimSpace(out.String()[strings.Index(out.String(), "in ")+3:]), "%fs:", new(float64)); err == nil {
				fmt.Sscanf(out.String()[strings.Index(out.String(), "s: ")+3:], "%f", &rate)
				rates[p] = rate
			}
		}
		if rates["import"] > 0 && rates["importsub"] > 0 {
			fmt.Printf("importsub/import: %.3f of the rate without subscriptions (%d subscriptions; the target is 0.9 or more)\n",
				rates["importsub"]/rates["import"], subscriptions)
		}
		return
	}
	for _, p := range []string{*child} {
		var fn phaseFunc
		switch p {
		case "validate":
			fn = validateOnly
		case "raw":
			fn = func(ctx context.Context, file, db string) (ingest.Stats, excluded, error) {
				return rawInsert(ctx, file, db, true)
			}
		case "rawrecord":
			fn = func(ctx context.Context, file, db string) (ingest.Stats, excluded, error) {
				return rawInsert(ctx, file, db, false)
			}
		case "import", "importsub":
			subs := 0
			if p == "importsub" {
				subs = subscriptions
			}
			fn = func(ctx context.Context, file, db string) (ingest.Stats, excluded, error) {
				st, err := importFile(ctx, file, db, subs)
				return st, excluded{}, err
			}
		default:
			log.Fatalf("unknown phase %q", p)
		}
		if *cpuprofile != "" {
			fn = recorded(fn, *cpuprofile+"."+p, pprof.StartCPUProfile, pprof.StopCPUProfile)
		}
		if *traceFile != "" {
			fn = recorded(fn, *traceFile+"."+p, trace.Start, trace.Stop)
		}
		db := filepath.Join(work, p+".db")
		m := measure(func() (ingest.Stats, excluded, error) { return fn(ctx, file, db) })
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(db + suffix)
		}
		if m.err != nil {
			log.Fatalf("%s: %v", p, m.err)
		}
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		fmt.Printf("%-9s %8d sessions %8d segments in %7.1fs: %6.0f sessions/s, %6.1f CPU s (%4.0f µs a session), peak RSS %4d MiB, heap %4.0f MiB\n",
			p, m.stats.Sessions, m.stats.Segments, m.wall.Seconds(), float64(m.stats.Sessions)/m.wall.Seconds(), m.cpu.Seconds(),
			m.cpu.Seconds()*1e6/float64(max(m.stats.Sessions, 1)), ru.Maxrss>>10, float64(m.peakHeap)/(1<<20))
	}
}

func splitComma(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != ',' {
			i++
		}
		if i > 0 {
			out = append(out, s[:i])
		}
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// generate writes records to file until they hold at least sessions sessions.
func generate(file string, seed int64, sessions int) (synth.Stats, error) {
	// Sessions a record vary widely (a rare meeting has thousands), so
	// estimate the records from a probe, and if the file falls short,
	// write it again with proportionally more: one deterministic run each.
	probe, err := synth.Write(io.Discard, synth.Config{Tenant: tenant, Seed: seed, Records: 2000})
	if err != nil {
		return probe, err
	}
	records := int(float64(sessions)/float64(probe.Sessions)*2000*1.02) + 1
	for {
		st, err := writeRecords(file, seed, records)
		if err != nil || st.Sessions >= sessions {
			return st, err
		}
		records = int(float64(records)*float64(sessions)/float64(max(st.Sessions, 1))*1.02) + 1
	}
}

func writeRecords(file string, seed int64, records int) (synth.Stats, error) {
	f, err := os.Create(file)
	if err != nil {
		return synth.Stats{}, err
	}
	defer f.Close()
	st, err := synth.Write(f, synth.Config{Tenant: tenant, Seed: seed, Records: records})
	if err != nil {
		return st, err
	}
	return st, f.Close()
}

// excluded is time a phase spent outside what it measures.
type excluded struct{ wall, cpu time.Duration }

type measurement struct {
	stats    ingest.Stats
	wall     time.Duration
	cpu      time.Duration
	peakHeap uint64
	err      error
}

// measure runs fn, sampling the heap in use every 10 ms.
func measure(fn func() (ingest.Stats, excluded, error)) measurement {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	cpu0 := cpuTime()
	start := time.Now()
	st, ex, err := fn()
	m := measurement{stats: st, wall: time.Since(start) - ex.wall, cpu: cpuTime() - cpu0 - ex.cpu, err: err}
	close(stop)
	<-sampled
	m.peakHeap = peak.Load()
	return m
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// validateOnly runs the Normalizer over every record, storing nothing.
func validateOnly(_ context.Context, file, _ string) (ingest.Stats, excluded, error) {
	var st ingest.Stats
	f, err := os.Open(file)
	if err != nil {
		return st, excluded{}, err
	}
	defer f.Close()
	n := ingest.NewNormalizer()
	rd := ingest.NewReader(bufio.NewReaderSize(f, 1<<20))
	for {
		raw, _, err := rd.Next()
		if err == io.EOF {
			return st, excluded{}, nil
		} else if err != nil {
			return st, excluded{}, err
		}
		rec, err := n.Record(tenant, raw)
		if err != nil {
			st.Rejected++
			continue
		}
		count(&st, rec)
	}
}

func count(st *ingest.Stats, rec *callvault.Record) {
	st.Records++
	st.Sessions += len(rec.Sessions)
	for _, s := range rec.Sessions {
		st.Segments += len(s.Segments)
	}
}

// phaseFunc runs one phase on the file, into the database at db.
type phaseFunc func(ctx context.Context, file, db string) (ingest.Stats, excluded, error)

// recorded is fn with a recording (a CPU profile, an execution trace)
// written to the file name from start to stop.
func recorded(fn phaseFunc, name string, start func(io.Writer) error, stop func()) phaseFunc {
	return func(ctx context.Context, file, db string) (ingest.Stats, excluded, error) {
		f, err := os.Create(name)
		if err != nil {
			return ingest.Stats{}, excluded{}, err
		}
		defer f.Close()
		if err := start(f); err != nil {
			return ingest.Stats{}, excluded{}, err
		}
		defer stop()
		return fn(ctx, file, db)
	}
}

// batchBytes is the size of the raw phases' batches, in bytes of input.
var batchBytes = 8 << 20

// workers is the Importer's Workers in the import phases (-workers).
var workers = 0

// rawInsert validates the records in chunks with the clock stopped, and
// times only storing them: batched (PutRecords, 8 MiB of input a
// transaction, as the Importer does) or one transaction a record.
func rawInsert(ctx context.Context, file, path string, batched bool) (st ingest.Stats, ex excluded, err error) {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return st, ex, err
	}
	defer db.Close()
	f, err := os.Open(file)
	if err != nil {
		return st, ex, err
	}
	defer f.Close()
	n := ingest.NewNormalizer()
	rd := ingest.NewReader(bufio.NewReaderSize(f, 1<<20))
	for done := false; !done; {
		t0, c0 := time.Now(), cpuTime()
		var chunk []*callvault.Record
		size := 0
		for size < batchBytes && len(chunk) < 2000 {
			raw, _, err := rd.Next()
			if err == io.EOF {
				done = true
				break
			} else if err != nil {
				return st, ex, err
			}
			size += len(raw)
			rec, err := n.Record(tenant, raw)
			if err != nil {
				return st, ex, err
			}
			ingest.CompileScripts(rec) // as the Importer stores them
			chunk = append(chunk, rec)
		}
		ex.wall += time.Since(t0)
		ex.cpu += cpuTime() - c0
		if batched {
			_, errs, err := db.PutRecords(ctx, chunk)
			if err != nil {
				return st, ex, err
			}
			for _, e := range errs {
				if e != nil {
					return st, ex, e
				}
			}
		} else {
			for _, rec := range chunk {
				if _, err := db.PutRecord(ctx, rec); err != nil {
					return st, ex, err
				}
			}
		}
		for _, rec := range chunk {
			count(&st, rec)
		}
	}
	return st, ex, nil
}

// importFile runs ingest.Importer as callvault import does.
// subscriptions is how many subscriptions the tenant has in importsub.
var subscriptions = 1

// rates are the sessions/s of each phase, as the children printed them.
var rates = map[string]float64{}

func importFile(ctx context.Context, file, path string, subs int) (ingest.Stats, error) {
	var st ingest.Stats
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return st, err
	}
	defer db.Close()
	now := time.Now()
	for i := range subs {
		s := &callvault.Subscription{ID: fmt.Sprintf("sub-%d", i), Tenant: tenant, ChangeType: "created,updated",
			ChangeTypes: callvault.ChangeCreated | callvault.ChangeUpdated, NotificationURL: "https://127.0.0.1:9/hook",
			ExpirationDateTime: now.Add(24 * time.Hour)}
		if err := db.CreateSubscription(ctx, s, callvault.SubscriptionQuota, now); err != nil {
			return st, err
		}
	}
	f, err := os.Open(file)
	if err != nil {
		return st, err
	}
	defer f.Close()
	im := &ingest.Importer{Store: db, Tenant: tenant, BatchBytes: batchBytes}
	im.Workers = workers
	err = im.Import(ctx, file, f, &st)
	return st, err
}
