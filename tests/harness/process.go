package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one daemon of the site.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// start runs a daemon in its own process group, logging to logs/<name>.log, and records its
// PID in run/<name>.pid.
func (s *Site) start(name string, env []string, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(s.Dir, "logs", name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(baseEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if s.owned {
		// A test run owns its site: if the test binary dies (panic, -timeout, kill), the kernel
		// kills the daemons with it instead of leaving them running.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	// The daemons get the usual umask whatever the caller's: containerd started under 077
	// makes its snapshot directories unreadable to a container's non-root user.
	old := syscall.Umask(0o022)
	err = cmd.Start()
	syscall.Umask(old)
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	if err := writePIDFile(s.pidFile(name), cmd.Process.Pid); err != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return nil, err
	}
	s.progress("started %s (pid %d, log %s)", name, cmd.Process.Pid, logPath)
	return p, nil
}

// baseEnv is the environment of every daemon. AWS_CA_BUNDLE (set on some machines) makes
// S3 clients load a bundle they do not need; proxies must never see loopback traffic.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "AWS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "NO_PROXY=*", "no_proxy=*")
}

// waitFor polls probe until it succeeds, the process dies or the timeout passes.
func (s *Site) waitFor(ctx context.Context, p *process, timeout time.Duration, probe func(context.Context) error) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		last = probe(pctx)
		pcancel()
		if last == nil {
			s.progress("%s ready in %.1fs", p.name, time.Since(start).Seconds())
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v\n%s", p.name, last, tail(p.log, 20))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v\n%s", p.name, timeout, last, tail(p.log, 20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Site) pidFile(name string) string { return filepath.Join(s.Dir, "run", name+".pid") }

// writePIDFile records pid with its start time (field 22 of /proc/<pid>/stat, in clock ticks
// since boot): together they name one process for good, where a PID alone may be reused.
func writePIDFile(path string, pid int) error {
	start, err := startTime(pid)
	if err != nil {
		return fmt.Errorf("recording pid %d: %w", pid, err)
	}
	return os.WriteFile(path, []byte(fmt.Sprintf("%d %d\n", pid, start)), 0o644)
}

// readPIDFile returns the process a PID file names, if that very process still runs: a PID
// whose start time differs (reused after a reboot or a crash) or a file without a start time
// is stale and is never signalled.
func readPIDFile(path string) (pid int, running bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false, err
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0, false, nil
	}
	pid, err1 := strconv.Atoi(fields[0])
	want, err2 := strconv.ParseUint(fields[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 1 {
		return 0, false, nil
	}
	got, err := startTime(pid)
	if err != nil || got != want {
		return pid, false, nil
	}
	return pid, alive(pid), nil
}

// startTime is the start time of pid in clock ticks since boot.
func startTime(pid int) (uint64, error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(fields[19], 10, 64) // starttime, field 22
}

// statFields are the fields of /proc/<pid>/stat from field 3 (state) on: the command name
// (field 2) may contain spaces, so they are cut after its last ')'. At least 20 are there.
func statFields(pid int) ([]string, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 20 {
		return nil, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(fields))
	}
	return fields, nil
}

// stopByPIDFile stops the process group named in run/<name>.pid: SIGTERM, then SIGKILL after
// grace (kube-apiserver may ignore SIGTERM while clients are connected). A stale PID file is
// removed without signalling anything.
func stopByPIDFile(dir, name string, grace time.Duration) (stopped bool, err error) {
	path := filepath.Join(dir, "run", name+".pid")
	pid, running, err := readPIDFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer os.Remove(path)
	if !running {
		return false, nil
	}
	return true, stopGroup(name, pid, grace)
}

// stopGroup stops the process group led by pid: SIGTERM, then SIGKILL after grace.
func stopGroup(name string, pid int, grace time.Duration) error {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(pid) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		for i := 0; i < 100 && alive(pid); i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if alive(pid) {
		return fmt.Errorf("%s (pid %d) did not stop", name, pid)
	}
	return nil
}

// alive reports whether pid runs; a zombie (exited, not yet reaped) counts as stopped.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Format: pid (comm) state ...; comm may contain spaces, so cut at the last ')'.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

func tail(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return "    " + strings.Join(all, "\n    ")
}

// CPUSeconds is the CPU time (user and system) the site's daemon name has used so far, from
// /proc/<pid>/stat; for benchmarks that split a run's work between the client and the servers.
func (s *Site) CPUSeconds(name string) (float64, error) {
	pid, running, err := readPIDFile(s.pidFile(name))
	if err != nil {
		return 0, err
	}
	if !running {
		return 0, fmt.Errorf("%s is not running", name)
	}
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	return float64(utime+stime) / clockTicks, nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's times: 100 on Linux.
const clockTicks = 100
