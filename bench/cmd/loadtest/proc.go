package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a child process serving HTTP on a loopback address.
type server struct {
	name    string
	cmd     *exec.Cmd
	addr    string // host:port, checked to be loopback
	done    chan error
	stopped sync.Once
}

// startServer starts cmd, whose standard output must announce the
// listening address on a line "<prefix>http://ADDR ...", and waits for that
// line. stderr receives the child's standard error.
func startServer(name string, cmd *exec.Cmd, prefix string, stderr io.Writer) (*server, error) {
	cmd.Stderr = stderr
	cmd.Env = childEnv()
	setDeathSignal(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, done: make(chan error, 1)}
	addrc := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(out)
		announced := false
		for lines.Scan() {
			if rest, ok := strings.CutPrefix(lines.Text(), prefix+"http://"); ok && !announced {
				announced = true
				addr, _, _ := strings.Cut(rest, " ")
				addrc <- addr
			}
		}
		io.Copy(io.Discard, out)
		close(addrc)
	}()
	go func() { s.done <- cmd.Wait() }()
	select {
	case addr, ok := <-addrc:
		if !ok {
			s.stop()
			return nil, fmt.Errorf("%s exited without announcing its address", name)
		}
		if err := loopbackAddr(addr); err != nil {
			s.stop()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		s.addr = addr
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("%s exited before listening: %v", name, err)
	case <-time.After(2 * time.Minute):
		s.stop()
		return nil, fmt.Errorf("%s did not announce its address within 2 minutes", name)
	}
}

// stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits for
// it. It may be called more than once.
func (s *server) stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	s.stopped.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	})
}

func (s *server) url(pathAndQuery string) string { return "http://" + s.addr + pathAndQuery }

// memory holds a process's resident set size and its peak (VmRSS, VmHWM).
type memory struct{ rss, peak int64 } // bytes

// readMemory reads /proc/PID/status.
func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	for line := range bytes.Lines(b) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(name) {
		case "VmRSS":
			dst = &m.rss
		case "VmHWM":
			dst = &m.peak
		default:
			continue
		}
		f := strings.Fields(string(value)) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("/proc/%d/status: unexpected %s", pid, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, err
		}
		*dst = kb << 10
	}
	if m.peak == 0 {
		return m, fmt.Errorf("/proc/%d/status has no VmHWM", pid)
	}
	return m, nil
}

// resetPeak resets a process's VmHWM to its current RSS (Linux 4.0 and
// later; "5" in clear_refs), so that the next reading is the peak of what
// happens from now on. It reports whether the kernel accepted it.
func resetPeak(pid int) bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
}

// childEnv is this process's environment without CALLVAULT_ variables, so
// that only the flags this program passes configure the children.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CALLVAULT_") {
			env = append(env, kv)
		}
	}
	return env
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// cpuTime returns the CPU time (user and system) a process has used, from
// /proc/PID/stat, whose clock ticks are USER_HZ, 100 a second on Linux.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// after its closing parenthesis; utime and stime are fields 14 and 15.
	rest := b[bytes.LastIndexByte(b, ')')+1:]
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100), nil
}

// loadAverage returns the first number of /proc/loadavg, or -1.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
