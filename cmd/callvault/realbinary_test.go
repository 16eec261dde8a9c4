package main

// The tests of this file run the real callvault: a process is the point
// (signals, kill -9, several processes at once). -short skips them, as it
// skips building the binary; the other tests run the commands in the
// test's own process (main_test.go).

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The real callvault, built by the first test that needs it.
var (
	buildBinary sync.Once
	binaryDir   string
	binary      string
	buildErr    error
)

// realBinary returns the path of the real callvault, building it once; it
// skips a -short test.
func realBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("a test of the real binary: not with -short")
	}
	buildBinary.Do(func() {
		if binaryDir, buildErr = os.MkdirTemp("", "callvault-e2e-"); buildErr != nil {
			return
		}
		binary = filepath.Join(binaryDir, "callvault")
		if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// startForSignals starts serve as startServer does, but leaves its
// signals to the test: it returns the process, its URL and a function that
// waits for its end and returns its exit status and standard error.
func startForSignals(t *testing.T, args ...string) (p *os.Process, url string, wait func() (int, string)) {
	t.Helper()
	cmd := exec.Command(realBinary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The first line says where it listens; the rest is read and dropped.
	r := bufio.NewReader(out)
	line, readErr := r.ReadString('\n')
	done := make(chan struct{})
	var status int
	go func() {
		io.Copy(io.Discard, r)
		cmd.Wait()
		status = cmd.ProcessState.ExitCode()
		close(done)
	}()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	wait = func() (int, string) {
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatalf("serve did not exit within 60 s:\n%s", logs.String())
		}
		return status, logs.String()
	}
	rest, ok := strings.CutPrefix(line, "callvault listening on ")
	if !ok {
		cmd.Process.Kill()
		_, logs := wait()
		t.Fatalf("serve said nothing of where it listens (%v): %q\n%s", readErr, line, logs)
	}
	url, _, _ = strings.Cut(rest, " ")
	return cmd.Process, url, wait
}

// halfSentIngest opens a connection and sends an ingest request but only
// the first half of its body: the request is in flight until finish sends
// the rest and reads the response. It returns once the handler is running:
// the request asks "Expect: 100-continue", and the server sends 100 Continue
// only when the handler first reads the body. (A request whose headers are
// not read yet when Shutdown starts is dropped by net/http, so an answer on
// another connection would not show that this one is in flight.)
func halfSentIngest(t *testing.T, base, token, body string) (finish func() (*http.Response, error)) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	head := "POST /ingest/v1/callRecords HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	cont, err := http.ReadResponse(r, nil)
	if err != nil || cont.StatusCode != http.StatusContinue {
		t.Fatalf("the ingest request was not taken in (want 100 Continue): %v %v", cont, err)
	}
	half := len(body) / 2
	if _, err := io.WriteString(conn, body[:half]); err != nil {
		t.Fatal(err)
	}
	return func() (*http.Response, error) {
		if _, err := io.WriteString(conn, body[half:]); err != nil {
			return nil, err
		}
		return http.ReadResponse(r, nil)
	}
}

// refusedWithin polls until a new connection to base is refused, for at
// most d.
func refusedWithin(base string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second)
		if err != nil {
			return true
		}
		c.Close()
	}
	return false
}

func TestSIGTERMDrainsTheRequestsInFlightAndRefusesNewOnes(t *testing.T) {
	data := t.TempDir()
	token := mintToken(t, []string{"--data", data}, "11111111-2222-4333-8444-555555555555")
	p, base, wait := startForSignals(t, "--data", data, "--ingest", "--shutdown-timeout", "90s")
	finish := halfSentIngest(t, base, token, record("in-flight", 3))
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !refusedWithin(base, 30*time.Second) {
		t.Error("new connections are still accepted 30 s after SIGTERM")
	}
	resp, err := finish()
	if err != nil {
		t.Fatalf("the request in flight was cut off by SIGTERM: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "in-flight") {
		t.Errorf("the request in flight: %d %s", resp.StatusCode, b)
	}
	status, logs := wait()
	if status != 0 || !strings.Contains(logs, "every request in flight finished") {
		t.Errorf("serve exits %d after draining:\n%s", status, logs)
	}
}

func TestShutdownTimeoutCutsOffWhatDoesNotFinish(t *testing.T) {
	data := t.TempDir()
	token := mintToken(t, []string{"--data", data}, "11111111-2222-4333-8444-555555555555")
	p, base, wait := startForSignals(t, "--data", data, "--ingest", "--shutdown-timeout", "1s")
	halfSentIngest(t, base, token, record("never-finished", 3)) // never finished
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	status, logs := wait()
	if status != 1 || !strings.Contains(logs, "cut off") {
		t.Errorf("serve exits %d when a request outlives --shutdown-timeout:\n%s", status, logs)
	}
}

// TestKillNineLosesNoNotification kills serve while its notifications are
// failing; a new serve delivers every one of them.
func TestKillNineLosesNoNotification(t *testing.T) {
	const tenant = "0e5c1d2a-0000-4000-8000-00000000e2e3"
	data := t.TempDir()
	hook := newWebhook(t, 1<<30) // fails everything until told otherwise
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--allow-http-webhooks", "--notify-retry", "100ms", "--notify-lease", "1s"}
	cmd := exec.Command(realBinary(t), args...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	base := ""
	for lines.Scan() {
		if rest, ok := strings.CutPrefix(lines.Text(), "callvault listening on "); ok {
			base, _, _ = strings.Cut(rest, " ")
			break
		}
	}
	go io.Copy(io.Discard, out)
	token := mintToken(t, []string{"--data", data}, tenant)
	subscribeTo(t, base, token, hook.URL)

	var recs []string
	for i := range 50 {
		recs = append(recs, versioned(fmt.Sprintf("rec-%02d", i), 1))
	}
	file := filepath.Join(t.TempDir(), "r.jsonl")
	os.WriteFile(file, []byte(strings.Join(recs, "\n")+"\n"), 0o600)
	if _, errs, status := runCLI(t, "", "import", "--data", data, "--tenant", tenant, file); status != 0 {
		t.Fatalf("import: %s", errs)
	}
	// Wait until serve has tried (and failed) a few times, then kill it.
	for deadline := time.Now().Add(10 * time.Second); ; {
		hook.mu.Lock()
		posts := hook.posts
		hook.mu.Unlock()
		if posts >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve never tried to deliver")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill() // SIGKILL: no shutdown, leases held
	cmd.Wait()

	hook.mu.Lock()
	hook.fail = 0
	hook.mu.Unlock()
	startServer(t, "--data", data, "--allow-http-webhooks", "--notify-retry", "100ms", "--notify-lease", "1s")
	counts := hook.waitFor(t, 50)
	for i := range 50 {
		if c := counts[fmt.Sprintf("created communications/callRecords/rec-%02d", i)]; c < 1 {
			t.Errorf("rec-%02d was never notified", i)
		}
	}
}

// TestMirrorSurvivesKillNine kills the mirror three times mid-way; a last
// run finishes, and everything is there once.
func TestMirrorSurvivesKillNine(t *testing.T) {
	src := startSource(t, 300)
	dst := t.TempDir()
	for i := range 3 {
		cmd := src.mirrorCmd(t, []string{"--data", dst}, "--once", "--since", "192h", "--workers", "2", "--lease", "2s")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300*(i+1)) * time.Millisecond) // mid-way: the whole run takes seconds
		cmd.Process.Kill()
		cmd.Wait()
	}
	cmd := src.mirrorCmd(t, []string{"--data", dst}, "--once", "--since", "192h", "--lease", "2s")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the last mirror: %v\n%s", err, out.String())
	}
	srv := startServer(t, "--data", dst, "--public-url", src.public())
	compareMirror(t, src, srv.url, mintToken(t, []string{"--data", dst}, mirrorTenant))
}
