// Command localsite starts and stops the local factory site of the test bed by hand:
//
//	go run ./tests/localsite up   --dir .state/site
//	go run ./tests/localsite down --dir .state/site
//
//	go run ./tests/localsite mirrors --patch FILE   # the real node's containerd mirrors
//	go run ./tests/localsite app POD IMAGE          # a pod on the real node, awaited Ready
//	go run ./tests/localsite env                    # the real node's facts for scripts
//
// `make site-up` and `make site-down` run it. The site keeps its data between runs.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"airgap-site/tests/harness"
)

func main() {
	harness.RunRelayIfAsked()
	var dir, bin, crds, realNode string
	var s3Port, nodes int
	root := &cobra.Command{Use: "localsite", Short: "Start and stop the local factory site (test bed) on 127.0.0.1", SilenceUsage: true}
	root.PersistentFlags().StringVar(&dir, "dir", ".state/site", "site directory (data, logs, PKI, kubeconfig)")

	up := &cobra.Command{
		Use:   "up",
		Short: "Start the local site, or report it when it already runs",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if harness.Running(dir) {
				s, err := harness.Load(dir)
				if err != nil {
					return err
				}
				fmt.Println("local site already running")
				report(s)
				return nil
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			if os.Geteuid() != 0 {
				realNode = "" // network namespaces, kubelet and containerd need root
			}
			var names []string
			for i := 1; i <= nodes; i++ {
				if name := fmt.Sprintf("node-%d", i); name != realNode {
					names = append(names, name)
				}
			}
			var crdFiles []string
			if crds != "" {
				crdFiles = strings.Split(crds, ",")
			}
			s, err := harness.Start(ctx, harness.Options{
				Dir: dir, BinDir: bin, Nodes: names, S3Port: s3Port, CRDs: crdFiles, Containerd: os.Geteuid() == 0,
				RealNode: realNode,
			})
			if err != nil {
				return err
			}
			report(s)
			return nil
		},
	}
	up.Flags().StringVar(&bin, "bin", defaultBin(), "directory of the binaries built by make setup")
	up.Flags().IntVar(&s3Port, "s3-port", 7070, "port of the S3 server (stacks/Pulumi.dev.yaml points at 7070)")
	up.Flags().IntVar(&nodes, "nodes", 3, "number of nodes (node-1 ... node-N); all but --real-node are kwok fakes")
	up.Flags().StringVar(&realNode, "real-node", "node-1", "the node that is real (kubelet, kube-proxy, containerd in a network namespace; root only); empty for none")
	up.Flags().StringVar(&crds, "crds", "tests/testdata/crds/minio-operator-v7.1.1-tenants.yaml", "comma-separated CRD manifests to install")

	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the local site (its data stays in --dir)",
		RunE: func(*cobra.Command, []string) error {
			if err := harness.Stop(dir); err != nil {
				return err
			}
			fmt.Println("local site stopped; data kept in", dir)
			return nil
		},
	}
	var patchFile string
	mirrors := &cobra.Command{
		Use:   "mirrors --patch FILE",
		Short: "Configure the real node's containerd from a Talos mirror patch (airgap site patch), as Talos does",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := realSite(dir)
			if err != nil {
				return err
			}
			var patch []byte
			if patchFile == "-" {
				patch, err = io.ReadAll(os.Stdin)
			} else {
				patch, err = os.ReadFile(patchFile)
			}
			if err != nil {
				return err
			}
			if err := s.WriteNodeMirrors(cmd.Context(), patch); err != nil {
				return err
			}
			fmt.Printf("node %s: containerd mirrors written to %s\n", s.RealNode, s.NodeHostsDir)
			return nil
		},
	}
	mirrors.Flags().StringVar(&patchFile, "patch", "-", "the patch file; - reads standard input")

	env := &cobra.Command{
		Use:   "env",
		Short: "Print the site's real-node facts as shell variables (for scripts)",
		RunE: func(*cobra.Command, []string) error {
			s, err := realSite(dir)
			if err != nil {
				return err
			}
			fmt.Printf("REAL_NODE=%s\nNODE_IP=%s\nNODE_NETNS=%s\nLAPTOP_IP=%s\nLAPTOP_NETNS=%s\nNODE_CONTAINERD=%s\nNODE_REGISTRY=127.0.0.1:%d\n",
				s.RealNode, harness.NodeIP, s.NodeNamespace, harness.LaptopIP, s.LaptopNamespace, s.NodeContainerdSocket, s.Ports["node-registry"])
			return nil
		},
	}

	app := &cobra.Command{
		Use:   "app POD IMAGE",
		Short: "Run a pod of IMAGE (HTTP /healthz on 8080) on the real node by its original name and wait until it is Ready",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := realSite(dir)
			if err != nil {
				return err
			}
			p, err := s.RunOnRealNode(cmd.Context(), args[0], args[1], 8080)
			if err != nil {
				return err
			}
			st := p.Status.ContainerStatuses[0]
			fmt.Printf("pod %s Running and Ready on %s (pod IP %s)\n  image %s\n  ran   %s\n", p.Name, p.Spec.NodeName, p.Status.PodIP, st.Image, st.ImageID)
			return nil
		},
	}
	root.AddCommand(up, down, mirrors, env, app)
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}

// realSite loads a running site that has a real node.
func realSite(dir string) (*harness.Site, error) {
	s, err := harness.Load(dir)
	if err != nil {
		return nil, err
	}
	if s.RealNode == "" {
		return nil, fmt.Errorf("the local site in %s has no real node (start it as root with --real-node)", dir)
	}
	return s, nil
}

func report(s *harness.Site) {
	fmt.Printf("kubeconfig:  %s\n", s.Kubeconfig)
	fmt.Printf("API server:  %s\n", s.APIServer)
	fmt.Printf("S3 endpoint: %s (bucket %q, access key %s)\n", s.S3Endpoint, s.Bucket, s.AccessKey)
	if s.ContainerdSocket != "" {
		fmt.Printf("containerd:  %s (hosts dir %s)\n", s.ContainerdSocket, s.HostsDir)
	}
	if s.RealNode != "" {
		fmt.Printf("real node:   %s at %s in network namespace %s (containerd %s, hosts dir %s)\n",
			s.RealNode, harness.NodeIP, s.NodeNamespace, s.NodeContainerdSocket, s.NodeHostsDir)
		fmt.Printf("laptop:      %s in network namespace %s; S3 for pods at %s\n", harness.LaptopIP, s.LaptopNamespace, s.NodeS3Endpoint)
		fmt.Printf("registry:    NodePort %d of the real node relayed to 127.0.0.1:%d\n", harness.NodeRegistryPort, s.Ports["node-registry"])
	}
	fmt.Printf("export KUBECONFIG=%s\n", s.Kubeconfig)
}

func defaultBin() string {
	if c := os.Getenv("AIRGAP_CACHE"); c != "" {
		return filepath.Join(c, "bin")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "airgap-site", "bin")
}
