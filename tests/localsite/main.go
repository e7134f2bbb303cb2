// Command localsite starts and stops the local factory site of the test bed by hand:
//
//	go run ./tests/localsite up   --dir .state/site
//	go run ./tests/localsite down --dir .state/site
//
// `make site-up` and `make site-down` run it. The site keeps its data between runs.
package main

import (
	"context"
	"fmt"
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
	root.AddCommand(up, down)
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
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
