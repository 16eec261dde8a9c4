// Command crash kills callvault with SIGKILL while it writes, and checks
// that nothing it acknowledged is lost and that the store is whole.
//
// Each of -rounds rounds starts the real "callvault serve --ingest" on
// loopback over one data directory, drives it with -conns connections that
// ingest records of their own ids, runs "callvault import" of a generated
// file beside it, and after a random time within -kill-after kills both
// with SIGKILL. It then starts serve again and checks: /readyz is ready;
// every record whose ingest was answered 200 is served, at the version
// acknowledged or a later one; and the import, run again to its end,
// leaves exactly the file's distinct records (an import is idempotent, so
// a killed one finishes by being run again). It prints each round's
// figures, and exits 1 on the first loss.
//
//	go run ./bench/cmd/crash                  # 5 rounds
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const tenant = "c4a5c4a5-0000-4000-8000-00000000c4a5"

func main() {
	rounds := flag.Int("rounds", 5, "kill-and-check rounds")
	conns := flag.Int("conns", 4, "connections ingesting at once")
	records := flag.Int("records", 2000, "records of the file imported beside the ingests")
	killAfter := flag.Duration("kill-after", 3*time.Second, "kill at a random time up to this long after the writes start")
	binary := flag.String("callvault", "", "a callvault `binary` (default: go build ./cmd/callvault)")
	flag.Parse()
	if err := run(*rounds, *conns, *records, *killAfter, *binary); err != nil {
		fmt.Fprintln(os.Stderr, "crash:", err)
		os.Exit(1)
	}
	fmt.Println("crash: ok")
}

func run(rounds, conns, records int, killAfter time.Duration, bin string) error {
	work, err := os.MkdirTemp("", "callvault-crash-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if bin == "" {
		bin = filepath.Join(work, "callvault")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/callvault").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	data, file := filepath.Join(work, "data"), filepath.Join(work, "records.jsonl")
	if out, err := exec.Command(bin, "generate", "--tenant", tenant, "--records", strconv.Itoa(records), "--out", file, "--progress", "0").CombinedOutput(); err != nil {
		return fmt.Errorf("generate: %v\n%s", err, out)
	}
	distinct, err := distinctIDs(file)
	if err != nil {
		return err
	}
	out, err := exec.Command(bin, "token", "--data", data, "--tenant", tenant, "--ttl", "24h", "--roles", "CallRecords.Read.All,CallRecords.Ingest.All").Output()
	if err != nil {
		return fmt.Errorf("token: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	c := &client{token: lines[len(lines)-1], http: &http.Client{Timeout: time.Minute}}

	acked := map[string]int{} // ingested id → the version answered 200
	tried := 0                // ingests sent: a killed one may be stored unacknowledged
	for round := 1; round <= rounds; round++ {
		serve, base, err := start(bin, data)
		if err != nil {
			return err
		}
		imp := exec.Command(bin, "import", "--data", data, "--tenant", tenant, file)
		imp.Stdout, imp.Stderr = io.Discard, io.Discard
		if err := imp.Start(); err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var wg sync.WaitGroup
		sent := 0
		for w := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					id := fmt.Sprintf("ingest-%d-%d-%d", round, w, i)
					mu.Lock()
					tried++
					mu.Unlock()
					if err := c.ingest(ctx, base, id, 1); err == nil {
						mu.Lock()
						acked[id] = 1
						sent++
						mu.Unlock()
					}
				}
			}()
		}
		after := time.Duration(rand.Int64N(int64(killAfter))) + 200*time.Millisecond
		time.Sleep(after)
		serve.Process.Kill() // SIGKILL, both at once
		imp.Process.Kill()
		cancel()
		wg.Wait()
		serve.Wait()
		imp.Wait()

		serve, base, err = start(bin, data)
		if err != nil {
			return fmt.Errorf("round %d: serve does not start again after SIGKILL: %w", round, err)
		}
		check := func() error {
			if status, b, err := c.get(base + "/readyz"); err != nil || status != 200 {
				return fmt.Errorf("readyz: %d %s %v", status, b, err)
			}
			lost := 0
			for id := range acked {
				if status, _, err := c.get(base + "/v1.0/communications/callRecords/" + id + "?$select=id"); err != nil || status != 200 {
					lost++
				}
			}
			if lost > 0 {
				return fmt.Errorf("%d of %d acknowledged ingests are gone", lost, len(acked))
			}
			if out, err := exec.Command(bin, "import", "--data", data, "--tenant", tenant, file).CombinedOutput(); err != nil {
				return fmt.Errorf("the import run again fails: %v\n%s", err, out)
			}
			_, b, err := c.get(base + "/v1.0/communications/callRecords/$count")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(strings.TrimSpace(string(b)))
			// Every acknowledged ingest is stored (checked above); one killed
			// in flight may be stored too, unacknowledged.
			if low, high := len(distinct)+len(acked), len(distinct)+tried; err != nil || n < low || n > high {
				return fmt.Errorf("$count is %q, want %d to %d (%d imported; %d ingests acknowledged of %d sent)", b, low, high, len(distinct), len(acked), tried)
			}
			return nil
		}
		err = check()
		serve.Process.Kill()
		serve.Wait()
		if err != nil {
			return fmt.Errorf("round %d (killed after %s): %w", round, after.Round(time.Millisecond), err)
		}
		fmt.Printf("round %d: killed after %s; %d ingests acknowledged in it, %d of %d sent in all, every one served; the import completes to %d records\n",
			round, after.Round(time.Millisecond), sent, len(acked), tried, len(distinct))
	}
	return nil
}

// start runs serve on loopback and returns it with its URL.
func start(bin, data string) (*exec.Cmd, string, error) {
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", "127.0.0.1:0", "--ingest", "--log-level", "error")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "callvault listening on "); ok {
			base, _, _ := strings.Cut(rest, " ")
			go io.Copy(io.Discard, out)
			if !strings.HasPrefix(base, "http://127.0.0.1:") {
				cmd.Process.Kill()
				return nil, "", fmt.Errorf("serve listens on %s, not loopback", base)
			}
			return cmd, base, nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, "", errors.New("serve said nothing of where it listens")
}

// distinctIDs returns the ids of the records in a JSON Lines file.
func distinctIDs(file string) (map[string]bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ids := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var r struct{ ID string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		ids[r.ID] = true
	}
	return ids, sc.Err()
}

type client struct {
	token string
	http  *http.Client
}

func (c *client) get(url string) (int, []byte, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (c *client) ingest(ctx context.Context, base, id string, version int) error {
	body := fmt.Sprintf(`{"id":%q,"version":%d,"type":"groupCall","modalities":["audio"],`+
		`"startDateTime":"2026-08-04T10:00:00Z","endDateTime":"2026-08-04T11:00:00Z","lastModifiedDateTime":"2026-08-04T11:05:00Z",`+
		`"sessions":[{"id":"s1","modalities":["audio"],"startDateTime":"2026-08-04T10:00:00Z","endDateTime":"2026-08-04T11:00:00Z",`+
		`"segments":[{"id":"g1","startDateTime":"2026-08-04T10:00:00Z","endDateTime":"2026-08-04T11:00:00Z"}]}]}`, id, version)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/ingest/v1/callRecords", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("ingest %s: %d", id, resp.StatusCode)
	}
	return nil
}
