package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A cold restart: the whole site loses power (every node daemon, every container and the
// control plane die at once, /run is empty afterwards) and comes back by itself. The site's
// network (its namespaces and the relays into them, the LAN) stays: it is the test bed's
// wiring, not a part of the site.

// powerCutOrder names the daemons a power cut kills, node first.
var powerCutOrder = []string{"kubelet", "kube-proxy", "node-containerd",
	"kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd", "versitygw"}

// PowerOff kills the real node's daemons, its containers and their shims, and the control
// plane and S3 with SIGKILL, as a power cut does; then the node's runtime state (its /run:
// container mounts and task state) is gone, as after a reboot. The loopback containerd is
// not part of the site and keeps running.
func (s *Site) PowerOff() error {
	var errs []error
	for _, name := range powerCutOrder {
		if err := killByPIDFile(s.Dir, name); err != nil {
			errs = append(errs, err)
		}
	}
	if s.NodeContainerdSocket != "" {
		errs = append(errs, killNodeShims(s.NodeContainerdSocket))
		run := s.path("node", "run")
		errs = append(errs, unmountUnder(run))
		errs = append(errs, os.RemoveAll(filepath.Join(run, "state")))
	}
	return errors.Join(errs...)
}

// PowerOn starts what PowerOff killed, in boot order, with the site's data and identity,
// and waits until each part is ready (the real node Ready); the pods come back by themselves.
func (s *Site) PowerOn(ctx context.Context) error {
	if s.log == nil {
		s.log = os.Stderr
	}
	opts := Options{Bucket: s.Bucket, RealNode: s.RealNode}
	steps := []func(context.Context, Options) error{s.startEtcd, s.startAPIServer, s.startControllers, s.startKwok, s.startS3}
	if s.RealNode != "" {
		steps = append(steps, s.startNodeContainerd, s.startKubelet, s.startKubeProxy)
	}
	for _, step := range steps {
		if err := step(ctx, opts); err != nil {
			return err
		}
	}
	return nil
}

// killByPIDFile kills the process group named in run/<name>.pid with SIGKILL alone.
func killByPIDFile(dir, name string) error {
	path := filepath.Join(dir, "run", name+".pid")
	pid, running, err := readPIDFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer os.Remove(path)
	if !running {
		return nil
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	for i := 0; i < 100 && alive(pid); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(pid) {
		return fmt.Errorf("%s (pid %d) did not die", name, pid)
	}
	return nil
}

// killNodeShims kills, with SIGKILL, every container process of the containerd at socket and
// then its shims (they run in sessions of their own and outlive containerd).
func killNodeShims(socket string) error {
	procs, err := listProcs()
	if err != nil {
		return err
	}
	var shims []int
	for pid, p := range procs {
		if isShimOf(p.args, socket) {
			shims = append(shims, pid)
		}
	}
	victims := descendants(procs, shims)
	for _, pid := range append(victims, shims...) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, pid := range append(victims, shims...) {
		for i := 0; i < 100 && alive(pid); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			return fmt.Errorf("process %d of the node's containers did not die", pid)
		}
	}
	return nil
}

type procInfo struct {
	ppid int
	args []string
}

// isShimOf reports whether a command line is a containerd shim's serving the containerd at
// socket (-address <socket>).
func isShimOf(args []string, socket string) bool {
	if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
		return false
	}
	for i := 1; i+1 < len(args); i++ {
		if args[i] == "-address" && args[i+1] == socket {
			return true
		}
	}
	return false
}

// listProcs reads every process's parent and command line from /proc.
func listProcs() (map[int]procInfo, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	procs := map[int]procInfo{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		ppid, ok := parentOf(string(stat))
		if !ok {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		procs[pid] = procInfo{ppid: ppid, args: strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")}
	}
	return procs, nil
}

// parentOf reads the parent PID from a /proc/<pid>/stat line: pid (comm) state ppid ...
func parentOf(stat string) (int, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	fields := strings.Fields(stat[i+1:])
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return ppid, err == nil
}

// descendants are every process below roots, children before their parents' siblings.
func descendants(procs map[int]procInfo, roots []int) []int {
	children := map[int][]int{}
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
	}
	var out []int
	var walk func(int)
	walk = func(pid int) {
		for _, c := range children[pid] {
			out = append(out, c)
			walk(c)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return out
}
