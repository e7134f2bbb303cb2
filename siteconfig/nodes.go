package siteconfig

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Role is a Talos machine type.
type Role string

// Node roles, as Talos names its machine types.
const (
	RoleControlPlane Role = "controlplane"
	RoleWorker       Role = "worker"
)

// Node is one Talos machine. Its IP is what containerd on every node dials to reach the
// registry's NodePort, since containerd runs outside the cluster and has no Service DNS.
type Node struct {
	Name string `json:"name"`
	IP   string `json:"ip"`
	Role Role   `json:"role"`
}

// RegistryEndpoints lists host:port of the registry NodePort on every node, in node order:
// the addresses containerd pulls from.
func (c *Config) RegistryEndpoints() []string {
	out := make([]string, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		out = append(out, hostPort(n.IP, c.Registry.NodePort))
	}
	return out
}

func (v *validator) nodes(nodes []Node) {
	if len(nodes) == 0 {
		v.fail(KeyNodes, "at least one node is required: every node's IP serves the registry NodePort")
		return
	}
	names := map[string]int{}
	ips := map[netip.Addr]int{}
	controlPlanes := 0
	for i, n := range nodes {
		f := fmt.Sprintf("nodes[%d]", i)
		switch {
		case n.Name == "":
			v.fail(f+".name", "required")
		case !dnsSubdomain.MatchString(n.Name):
			v.fail(f+".name", "%q is not a valid node name (lowercase letters, digits, '-', '.')", n.Name)
		default:
			if j, dup := names[n.Name]; dup {
				v.fail(f+".name", "%q is also the name of nodes[%d]", n.Name, j)
			}
			names[n.Name] = i
		}
		ip, err := netip.ParseAddr(n.IP)
		switch {
		case n.IP == "":
			v.fail(f+".ip", "required")
		case err != nil:
			v.fail(f+".ip", "%q is not an IP address (write the address only: no scheme, port or prefix)", n.IP)
		case ip.IsUnspecified() || ip.IsMulticast() || ip.Zone() != "":
			v.fail(f+".ip", "%q cannot be a node address", n.IP)
		case ip.Unmap().String() != n.IP:
			// The address is written into mirror keys and endpoints as is; two spellings of one
			// address would be two mirrors, and a mapped IPv4 hides a duplicate.
			v.fail(f+".ip", "%q is not in canonical form: write %s", n.IP, ip.Unmap())
			if j, dup := ips[ip.Unmap()]; dup {
				v.fail(f+".ip", "%s is also the address of nodes[%d]", ip.Unmap(), j)
			}
		default:
			if j, dup := ips[ip]; dup {
				v.fail(f+".ip", "%s is also the address of nodes[%d]", n.IP, j)
			}
			ips[ip] = i
		}
		switch n.Role {
		case RoleControlPlane:
			controlPlanes++
		case RoleWorker:
		case "":
			v.fail(f+".role", "required: %q or %q", RoleControlPlane, RoleWorker)
		default:
			v.fail(f+".role", "%q is not %q or %q", n.Role, RoleControlPlane, RoleWorker)
		}
	}
	if controlPlanes == 0 {
		v.warn("no node has role controlplane: Talos needs at least one to bootstrap the cluster")
	}
}

func hostPort(ip string, port int) string {
	return net.JoinHostPort(ip, strconv.Itoa(port))
}
