package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
)

// report prints the run's figures as Markdown tables, ready for
// docs/performance.md, and says which of issue 6's targets they meet.
func report(w io.Writer, c config, sweep, results []measurement, mem memory, rss []rssRun, deep int, comp compression, pg postgresRun, load [2]float64) {
	fmt.Fprintf(w, "\n## callvault load test\n\n")
	fmt.Fprintf(w, "- machine: %s\n", machine())
	fmt.Fprintf(w, "- data: %d records, a meeting of %d sessions (page %d is the deep page) and meetings of %v sessions\n", c.records, c.sessions, deep, c.rss)
	fmt.Fprintf(w, "- load: closed loop over loopback, %d connections, %s measured per case and server in %d alternating slices (baseline, callvault, …), each after %s of warm-up; callvault serve --log-level %s\n",
		c.conns, c.duration, c.rounds, c.warmup, c.logLevel)
	fmt.Fprintf(w, "- the machine's load average: %.2f when the run started, %.2f when it ended (the load generator shares the machine; other work on it lowers both servers' rates)\n", load[0], load[1])
	if load[0] > 1.5 {
		fmt.Fprintf(w, "- **the machine was busy before this run began** (load average %.2f on %d CPUs): the rates and their ratios are lowered by other work, callvault's more than the baseline's, since it needs more CPU per request; CPU/req is the steadier figure. Measure on an idle machine for the targets.\n", load[0], runtime.NumCPU())
	}
	fmt.Fprintf(w, "\n")

	fmt.Fprintf(w, "| case | bytes | baseline req/s | p50 | p99 | CPU/req | callvault req/s | p50 | p99 | CPU/req | callvault / baseline | callvault peak RSS |\n")
	fmt.Fprintf(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, m := range results {
		fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %s | %.0f | %s | %s | %s | **%.2f** | %s |\n", m.name, m.bytes,
			m.baseline.rate(), ms(m.baseline.quantile(0.5)), ms(m.baseline.quantile(0.99)), us(m.baseline.cpuPerRequest()),
			m.callvault.rate(), ms(m.callvault.quantile(0.5)), ms(m.callvault.quantile(0.99)), us(m.callvault.cpuPerRequest()), m.ratio(), peakText(m.peak))
	}
	fmt.Fprintf(w, "\nCPU/req is the server process's CPU time (user and system, from /proc/PID/stat) over the measured time, per request. ")
	fmt.Fprintf(w, "Each baseline serves the bytes callvault answered that request with (for the gzip case, the compressed bytes), from memory, with the same headers.\n")
	if comp.plain > 0 && comp.served > 0 && comp.reference > 0 {
		fmt.Fprintf(w, "\nCompression of page 1 with segments: %d bytes plain, %d as callvault sends it with Accept-Encoding: gzip (%.1f %%), %d by %s (%.1f %%): callvault's is %+.1f %% against it.\n",
			comp.plain, comp.served, 100*float64(comp.served)/float64(comp.plain), comp.reference, comp.tool,
			100*float64(comp.reference)/float64(comp.plain), 100*(float64(comp.served)/float64(comp.reference)-1))
	}
	fmt.Fprintf(w, "\ncallvault's peak RSS over the whole run (VmHWM): %s; RSS at the end: %s.\n", mib(mem.peak), mib(mem.rss))

	fmt.Fprintf(w, "\n### PostgreSQL (callvault serve --db)\n\n")
	if pg.skipped != "" {
		fmt.Fprintf(w, "%s.\n", pg.skipped)
	} else {
		fmt.Fprintf(w, "The same cases on `callvault serve --db` (%d connections, %s each), each against the baseline of the SQLite run above (the same bytes but for the next link's cursor). CPU/req counts callvault's process only, not PostgreSQL's.\n\n", c.conns, c.duration)
		fmt.Fprintf(w, "| case | bytes | baseline req/s | PostgreSQL req/s | p50 | p99 | CPU/req | PostgreSQL / baseline | SQLite / baseline |\n")
		fmt.Fprintf(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for i, m := range pg.results {
			fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %s | %s | %s | **%.2f** | %.2f |\n", m.name, m.bytes, m.baseline.rate(),
				m.callvault.rate(), ms(m.callvault.quantile(0.5)), ms(m.callvault.quantile(0.99)), us(m.callvault.cpuPerRequest()), m.ratio(), results[i].ratio())
		}
	}

	satIndex := -1
	if len(sweep) > 0 {
		fmt.Fprintf(w, "\n### Saturation sweep: %s, %s per point and server\n\n", sweep[0].name, c.sweepDuration)
		fmt.Fprintf(w, "| connections | baseline req/s | p50 | p99 | CPU/req | callvault req/s | p50 | p99 | CPU/req | callvault / baseline |\n")
		fmt.Fprintf(w, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		best := 0.0
		for _, m := range sweep {
			best = max(best, m.baseline.rate())
		}
		for i, m := range sweep {
			if satIndex < 0 && m.baseline.rate() >= 0.95*best {
				satIndex = i
			}
			fmt.Fprintf(w, "| %d | %.0f | %s | %s | %s | %.0f | %s | %s | %s | %.2f |\n", m.conns,
				m.baseline.rate(), ms(m.baseline.quantile(0.5)), ms(m.baseline.quantile(0.99)), us(m.baseline.cpuPerRequest()),
				m.callvault.rate(), ms(m.callvault.quantile(0.5)), ms(m.callvault.quantile(0.99)), us(m.callvault.cpuPerRequest()), m.ratio())
		}
		fmt.Fprintf(w, "\nThe baseline saturates (first reaches 95 %% of its best, %.0f req/s) at %d connections.\n", best, sweep[satIndex].conns)
	}

	if len(rss) > 0 {
		fmt.Fprintf(w, "\n### Peak RSS of a fresh callvault paging through a meeting\n\n")
		fmt.Fprintf(w, "Each of %d connections walks every page ($expand=segments) by its next links, again and again, for %s.\n\n", c.conns, c.rssDuration)
		fmt.Fprintf(w, "| meeting | pages served | pages/s | peak RSS (VmHWM) |\n| ---: | ---: | ---: | ---: |\n")
		for _, r := range rss {
			fmt.Fprintf(w, "| %d sessions | %d | %.0f | %s |\n", r.sessions, r.pages, r.rate, mib(r.mem.peak))
		}
	}

	fmt.Fprintf(w, "\n### Targets (issue 17)\n\n")
	for _, m := range results {
		want := 0.5
		if m.name == results[0].name {
			want = 0.6
		}
		fmt.Fprintf(w, "- %s: %.2f of its baseline, target ≥ %.1f — %s\n", m.name, m.ratio(), want, verdict(m.ratio() >= want))
	}
	fmt.Fprintf(w, "\n### Targets (issue 6)\n\n")
	first, deepM := results[0], results[1]
	fmt.Fprintf(w, "- Page of 60 sessions with segments at ≥ 50 %% of the baseline's requests/s: %.2f at %d connections — %s\n",
		first.ratio(), first.conns, verdict(first.ratio() >= 0.5))
	if satIndex >= 0 {
		s := sweep[satIndex]
		p99 := s.callvault.quantile(0.99)
		fmt.Fprintf(w, "- p99 under 20 ms at the load where the baseline saturates (%d connections): %s (callvault/baseline %.2f) — %s\n",
			s.conns, ms(p99), s.ratio(), verdict(p99.Milliseconds() < 20))
	}
	d := deepM.callvault.rate()/first.callvault.rate() - 1
	fmt.Fprintf(w, "- Page %d within 10 %% of page 1: %.0f vs %.0f req/s (%+.1f %%) — %s\n",
		deep, deepM.callvault.rate(), first.callvault.rate(), 100*d, verdict(math.Abs(d) <= 0.10))
	// The pages differ in content (and size); each against its own baseline
	// takes that out.
	dn := deepM.ratio()/first.ratio() - 1
	fmt.Fprintf(w, "  - the same, each page against its own baseline (the pages are %d and %d bytes): %.2f vs %.2f (%+.1f %%) — %s\n",
		deepM.bytes, first.bytes, deepM.ratio(), first.ratio(), 100*dn, verdict(math.Abs(dn) <= 0.10))
	if len(rss) >= 2 {
		// The record grows from one meeting to the next; the peak must not.
		big, prev := rss[len(rss)-1], rss[len(rss)-2]
		g := float64(big.mem.peak)/float64(prev.mem.peak) - 1
		var sizes []string
		for _, r := range rss {
			sizes = append(sizes, fmt.Sprintf("%s paging %d sessions", mib(r.mem.peak), r.sessions))
		}
		fmt.Fprintf(w, "- Peak RSS independent of the record's size: %s; %d against %d sessions: %+.1f %% — %s\n",
			strings.Join(sizes, ", "), big.sessions, prev.sessions, 100*g, verdict(math.Abs(g) <= 0.10))
	}
	fmt.Fprintf(w, "- Allocations per page: see the Go benchmarks (go test ./bench -run '^$' -bench . -benchmem).\n")
}

func verdict(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func peakText(n int64) string {
	if n == 0 {
		return "?"
	}
	return mib(n)
}

// machine describes where the figures come from.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				model = strings.TrimSpace(value)
				break
			}
		}
	}
	kernel := runtime.GOOS
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel += " " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPUs (%s), %s, %s, GOMAXPROCS %d", runtime.NumCPU(), model, kernel, runtime.Version(), runtime.GOMAXPROCS(0))
}
