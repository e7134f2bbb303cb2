package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"airgap-site/signing"
)

func newSignCmd() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "sign --key cosign.key FILE",
		Short: "Sign a file (e.g. a kit's SHA256SUMS) with a cosign key, into FILE.sig",
		Long: `Sign FILE with a cosign private key (its password in COSIGN_PASSWORD) into FILE.sig, in
the format of cosign sign-blob: cosign verify-blob --key cosign.pub --signature FILE.sig
--insecure-ignore-tlog=true FILE checks it, and so does openssl (the signature is base64 of
an ECDSA signature over the file's SHA-256).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := signing.LoadSignerFile(key, []byte(os.Getenv("COSIGN_PASSWORD")))
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			blob, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			sig, err := s.Sign(blob)
			if err != nil {
				return err
			}
			if err := os.WriteFile(args[0]+".sig", sig, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "signed %s into %s.sig\n", args[0], args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "cosign private key (password: $COSIGN_PASSWORD)")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}
