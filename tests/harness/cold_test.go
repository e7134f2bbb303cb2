package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestKillNodeShims: a process whose command line names the node's socket like a shim
// (it runs in a session of its own) dies with its children; a process naming another
// socket is left alone.
func TestKillNodeShims(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "containerd.sock")
	start := func(sock string) *exec.Cmd {
		// exec -a gives the process a shim's command line: containerd-shim-runc-v2 -address <sock>.
		cmd := exec.Command("bash", "-c", `exec -a containerd-shim-runc-v2 bash -c "sleep 60 & sleep 60 & wait" -address "$0"`, sock)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = cmd.Wait() }()
		t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
		return cmd
	}
	shim := start(socket)
	other := start(socket + ".other")
	var children []int
	for i := 0; i < 50 && len(children) < 2; i++ {
		time.Sleep(50 * time.Millisecond)
		procs, err := listProcs()
		if err != nil {
			t.Fatal(err)
		}
		children = descendants(procs, []int{shim.Process.Pid})
	}
	if len(children) != 2 {
		t.Fatalf("the shim has %d children, want 2", len(children))
	}
	if err := killNodeShims(socket); err != nil {
		t.Fatal(err)
	}
	for _, pid := range append(children, shim.Process.Pid) {
		if alive(pid) {
			t.Errorf("process %d of the node survived", pid)
		}
	}
	if !alive(other.Process.Pid) {
		t.Errorf("the shim of another containerd was killed")
	}
}

// TestKillByPIDFile: SIGKILL alone (a process that ignores SIGTERM dies at once) and the
// PID file is removed.
func TestKillByPIDFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", "trap '' TERM; sleep 60 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	if err := writePIDFile(filepath.Join(dir, "run", "d.pid"), cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := killByPIDFile(dir, "d"); err != nil {
		t.Fatal(err)
	}
	if alive(cmd.Process.Pid) || time.Since(start) > 3*time.Second {
		t.Errorf("pid %d alive %v after %s", cmd.Process.Pid, alive(cmd.Process.Pid), time.Since(start))
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "d.pid")); !os.IsNotExist(err) {
		t.Errorf("the PID file stayed: %v", err)
	}
	if err := killByPIDFile(dir, "d"); err != nil {
		t.Errorf("killing again: %v", err)
	}
}

func TestParentOf(t *testing.T) {
	ppid, ok := parentOf("123 (a (b) c) S 45 123 123 0")
	if !ok || ppid != 45 {
		t.Errorf("parentOf = %d, %v", ppid, ok)
	}
	if _, ok := parentOf("garbage"); ok {
		t.Errorf("parentOf accepted garbage")
	}
	self, _ := os.ReadFile("/proc/self/stat")
	if p, ok := parentOf(string(self)); !ok || p != os.Getppid() {
		t.Errorf("parentOf(/proc/self/stat) = %d, %v; want %d", p, ok, os.Getppid())
	}
	if !isShimOf([]string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-address", "/a.sock"}, "/a.sock") ||
		isShimOf([]string{"containerd-shim-runc-v2", "-address", "/a.sock.other"}, "/a.sock") || isShimOf([]string{"sleep", "-address", "/a.sock"}, "/a.sock") {
		t.Errorf("isShimOf disagrees")
	}
}
