package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The site network of a local site with a real node: two network namespaces the harness
// creates, joined by a veth pair, so the node and the laptop have the addresses they have at a
// factory and nothing they send can leave the machine.
//
//	node netns:   10.20.0.11/24 (node-1's InternalIP; the registry NodePort listens here),
//	              10.20.0.5/32 on lo (the site's S3 endpoint, relayed to the test bed's S3),
//	              127.0.0.1:<apiserver port> (relayed to the API server)
//	laptop netns: 10.20.0.100/24 (airgap serve, the bootstrap endpoint; pulumi runs here),
//	              127.0.0.1:<apiserver port> (relayed to the API server)
//
// The other nodes of the dev stack (10.20.0.12, 10.20.0.13) are kwok nodes: their addresses
// are unreachable routes, so a mirror endpoint on them fails at once, as a node that is down.
const (
	SiteSubnet   = "10.20.0.0/24"
	NodeIP       = "10.20.0.11"
	LaptopIP     = "10.20.0.100"
	S3IP         = "10.20.0.5"
	S3Port       = 9000
	prefixLength = 24
)

// DownNodeIPs are the addresses of the site's other (fake) nodes.
var DownNodeIPs = []string{"10.20.0.12", "10.20.0.13"}

// namespaceNames derives short, unique names for the namespaces of the site in dir (interface
// and namespace names stay under 16 bytes).
func namespaceNames(dir string) (node, laptop string) {
	sum := sha256.Sum256([]byte(dir))
	id := hex.EncodeToString(sum[:])[:6]
	return "ag" + id + "-node", "ag" + id + "-lap"
}

// ip runs iproute2.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// createSiteNetwork creates the node and laptop namespaces (replacing leftovers of the same
// site) and wires them.
func createSiteNetwork(node, laptop string) error {
	deleteSiteNetwork(node, laptop)
	steps := [][]string{
		{"netns", "add", node},
		{"netns", "add", laptop},
		{"-n", node, "link", "set", "lo", "up"},
		{"-n", laptop, "link", "set", "lo", "up"},
		{"-n", node, "link", "add", "site0", "type", "veth", "peer", "name", "site0", "netns", laptop},
		{"-n", node, "addr", "add", fmt.Sprintf("%s/%d", NodeIP, prefixLength), "dev", "site0"},
		{"-n", laptop, "addr", "add", fmt.Sprintf("%s/%d", LaptopIP, prefixLength), "dev", "site0"},
		{"-n", node, "addr", "add", S3IP + "/32", "dev", "lo"},
		{"-n", node, "link", "set", "site0", "up"},
		{"-n", laptop, "link", "set", "site0", "up"},
		{"-n", laptop, "route", "add", S3IP + "/32", "via", NodeIP},
	}
	for _, down := range DownNodeIPs {
		steps = append(steps,
			[]string{"-n", node, "route", "add", "unreachable", down + "/32"},
			[]string{"-n", laptop, "route", "add", "unreachable", down + "/32"})
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			deleteSiteNetwork(node, laptop)
			return err
		}
	}
	// The node routes between its pods' bridge and the site network.
	if out, err := exec.Command("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
		deleteSiteNetwork(node, laptop)
		return fmt.Errorf("enabling forwarding in %s: %v: %s", node, err, out)
	}
	return nil
}

// deleteSiteNetwork removes the namespaces; everything inside them (veths, kube-proxy's
// iptables rules, pod interfaces) goes with them.
func deleteSiteNetwork(node, laptop string) {
	for _, ns := range []string{node, laptop} {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// inNamespace runs fn on an OS thread that is in the named network namespace ("" means this
// process's own). A socket keeps the namespace it was created in, so a listener made here
// serves that namespace while the rest of the program stays where it is.
func inNamespace(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", ns, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering network namespace %s: %w", ns, err)
	}
	defer func() {
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			// This thread is in the wrong namespace for good: never hand it back.
			runtime.LockOSThread()
		}
	}()
	return fn()
}

// ListenIn listens on addr inside the named namespace.
func ListenIn(ns, addr string) (net.Listener, error) {
	var l net.Listener
	err := inNamespace(ns, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// DialIn connects to addr from inside the named namespace.
func DialIn(ctx context.Context, ns, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNamespace(ns, func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}
