// Command mirrorbench measures callvault mirror against the ceiling that
// Graph's throttling allows, which is the physical limit of a mirror: a
// source callvault (the real binary, serve --tls auto --throttle graph, on
// loopback) serves generated records, and a mirror copies them once. The
// ceiling is the largest of three floors: at most 1,500 requests of one app
// in one tenant in any 20 seconds, 40 for one call record (a big meeting's
// pages), 40 for the list; n requests under a bucket of L per 20 s cannot
// take less than (⌈n/L⌉−1)·20 s. The ratio printed is that floor over the
// time the mirror took (1 is the ceiling). Runs below one window measure
// the mirror's own speed instead, and say so.
//
//	go run ./bench/cmd/mirrorbench -records 4000
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const tenant = "9b1c2f4e-0b8a-4c9e-8f3a-5d6e7f8a9b0c"

func main() {
	records := flag.Int("records", 4000, "records the source serves (at most 200,000)")
	workers := flag.Int("workers", 4, "the mirror's --workers")
	throttle := flag.String("throttle", "graph", "the source's --throttle: graph, or off to measure the mirror's own speed")
	progress := flag.Duration("progress", 0, "the mirror's --progress: print its progress line this often, and its output (0: only the figures)")
	flag.Parse()
	log.SetFlags(0)
	if *records < 1 || *records > 200000 {
		log.Fatal("-records must be 1 to 200,000")
	}
	dir, err := os.MkdirTemp("", "mirrorbench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "callvault")
	run(exec.Command("go", "build", "-o", bin, "./cmd/callvault"))
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	to := time.Now().UTC().Truncate(24 * time.Hour)
	file := filepath.Join(dir, "calls.jsonl")
	run(exec.Command(bin, "generate", "--tenant", tenant, "--records", strconv.Itoa(*records), "--seed", "1",
		"--from", to.Add(-6*24*time.Hour).Format(time.DateOnly), "--to", to.Format(time.DateOnly), "--out", file, "--revisions=false", "--progress", "0"))
	run(exec.Command(bin, "import", "--data", src, "--tenant", tenant, "--progress", "0", file))
	env, err := exec.Command(bin, "app", "add", "--data", src, "--tenant", tenant, "--name", "bench").Output()
	if err != nil {
		log.Fatal(err)
	}
	serve := exec.Command(bin, "serve", "--data", src, "--tls", "auto", "--addr", "127.0.0.1:0", "--throttle", *throttle, "--log-level", "warn")
	out, _ := serve.StdoutPipe()
	if err := serve.Start(); err != nil {
		log.Fatal(err)
	}
	defer serve.Process.Kill()
	base := ""
	for sc := bufio.NewScanner(out); sc.Scan(); {
		if rest, ok := strings.CutPrefix(sc.Text(), "callvault listening on "); ok {
			base, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		log.Fatalf("the source listens on %q, not loopback https", base)
	}
	ca, err := exec.Command(bin, "ca", "--data", src).Output()
	if err != nil {
		log.Fatal(err)
	}
	mirror := exec.Command(bin, "mirror", "--data", dst, "--source", base+"/beta", "--authority", base+"/",
		"--source-ca", strings.TrimSpace(string(ca)), "--once", "--since", "192h", "--reports=false",
		"--workers", strconv.Itoa(*workers), "--progress", progress.String())
	mirror.Env = append(os.Environ(), strings.Fields(string(env))...)
	start := time.Now()
	summary, err := mirror.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		log.Fatalf("mirror: %v\n%s", err, summary)
	}
	if *progress > 0 {
		os.Stdout.Write(summary)
	}
	m := regexp.MustCompile(`mirrored (\d+) records.* (\d+) requests, (\d+) 429s`).FindStringSubmatch(string(summary))
	if m == nil {
		log.Fatalf("no summary in:\n%s", summary)
	}
	stored, _ := strconv.Atoi(m[1])
	requests, _ := strconv.Atoi(m[2])
	fmt.Printf("%d records, %d requests, %s 429s in %v: %.1f records/s, %.1f requests/s\n",
		stored, requests, m[3], took.Round(time.Millisecond), float64(stored)/took.Seconds(), float64(requests)/took.Seconds())
	if *throttle == "off" {
		fmt.Println("the source does not throttle: this is the mirror's own speed on this machine")
		return
	}
	// Three of Graph's buckets bound the run from below, whatever the
	// mirror does: 1,500 requests per 20 s for the app in the tenant, 40
	// per 20 s for each call record (a meeting of many sessions or
	// participants takes a page request for each 60 or 130), and 40 per
	// 20 s for the list. n requests under a bucket of 40 per 20 s cannot
	// take less than (⌈n/40⌉−1)·20 s.
	window := func(n, limit int) float64 { return max(math.Ceil(float64(n)/float64(limit))-1, 0) * 20 }
	recs := readRecords(file)
	fetches, worst, multi := 0, 0, 0
	for _, r := range recs {
		fetches += r.pages
		worst = max(worst, r.pages)
		if r.pages > 1 {
			multi++
		}
	}
	app, record, list := window(requests, 1500), window(worst, 40), window(requests-fetches, 40)
	floor := max(app, record, list)
	fmt.Printf("floors: %.0fs for the app's %d requests, %.0fs for the list's %d, %.0fs for the record of %d pages (%d records of more than one)\n",
		app, requests, list, requests-fetches, record, worst, multi)
	// A record cannot be fetched before the list page that names it, and
	// the list's own bucket admits its pages 40 per 20 s: with the sweep's
	// order (a window a day from --since, 60 records a page, by start),
	// a big meeting named on a late page adds the list's wait to its own.
	listed, fetched := listedFloor(recs, start.Add(-192*time.Hour).UTC().Truncate(24*time.Hour), window)
	if listed > floor {
		fmt.Printf("floor with the sweep's order: %.0fs (a record's pages only after the list page that names it, which comes 40 per 20 s)\n", listed)
		floor = listed
	}
	if floor <= 0 {
		fmt.Println("under one throttle window: the mirror's own speed, not the ceiling; use more -records")
		return
	}
	fmt.Printf("throttle floor %.0fs: %.2f of the ceiling Graph's limits allow\n", floor, floor/took.Seconds())
	if fetched > floor {
		fmt.Printf("floor with the order records are fetched in (as listed; the app's bucket admits 1,500 requests per 20 s, so a record of many pages listed after the first 1,500 requests starts a window late): %.0fs: %.2f of it\n",
			fetched, fetched/took.Seconds())
	}
}

// record is what the floors need of a generated record.
type record struct {
	id    string
	start time.Time
	pages int // requests to fetch it whole
}

// readRecords reads the generated records: each one's start, and how many
// requests fetching it whole takes (the record with sessions and
// participants_v2 expanded, 60 and 130 a page, then a request for each
// further page of either).
func readRecords(file string) []record {
	f, err := os.Open(file)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	var out []record
	for {
		var r struct {
			ID           string            `json:"id"`
			Start        time.Time         `json:"startDateTime"`
			Sessions     []json.RawMessage `json:"sessions"`
			Participants []json.RawMessage `json:"participants_v2"`
		}
		if err := dec.Decode(&r); err == io.EOF {
			return out
		} else if err != nil {
			log.Fatal(err)
		}
		n := 1 + max((len(r.Sessions)+59)/60-1, 0) + max((len(r.Participants)+129)/130-1, 0)
		out = append(out, record{r.ID, r.Start, n})
	}
}

// listedFloor is the least time the run can take given the sweep's order:
// the list pages go a day at a time from since (one page for an empty
// day), 60 records a page by start and id; page k is admitted no sooner
// than window(k, 40), and the record it names then needs window(pages, 40)
// more. fetched adds the order the mirror fetches records in, the order
// they are listed, under the app's bucket, which admits 1,500 requests per
// window: a record whose first request is the app's kth starts no sooner
// than window(k, 1500). Which record has many pages is not known before its
// first page, so a big meeting listed late starts late.
func listedFloor(recs []record, since time.Time, window func(n, limit int) float64) (listed, fetched float64) {
	sorted := slices.Clone(recs)
	slices.SortFunc(sorted, func(a, b record) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	page, i, requests := 0, 0, 0
	for day := since; i < len(sorted); day = day.Add(24 * time.Hour) {
		end := day.Add(24 * time.Hour)
		n := 0
		for ; i < len(sorted) && sorted[i].start.Before(end); i++ {
			if n%60 == 0 {
				requests++ // the list page that names it
			}
			own := window(sorted[i].pages, 40)
			listed = max(listed, window(page+n/60+1, 40)+own)
			fetched = max(fetched, max(window(page+n/60+1, 40), window(requests+1, 1500))+own)
			requests += sorted[i].pages
			n++
		}
		if n == 0 {
			requests++
		}
		page += max((n+59)/60, 1)
	}
	return listed, fetched
}

func run(cmd *exec.Cmd) {
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
}
