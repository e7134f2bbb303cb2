// Command airgap is the operator's tool for air-gapped sites.
//
//	airgap bundle --images images.yaml --out DIR [--sign-key cosign.key]
//	                                               # at the office: pull the images into a bundle
//	airgap sign --key cosign.key FILE              # sign a file (a kit's SHA256SUMS) into FILE.sig
//	airgap serve --bundle DIR --addr 0.0.0.0:5000  # at the site: serve the bundle read-only
//	airgap fleet [site...]                         # preview every site, one row per site
//	airgap site preview|up|refresh|destroy|patch -s SITE
//	                                               # run the site program in this process
//	airgap site gc -s SITE [--timeout 10m]         # collect the site registry's garbage
//
// The command only parses flags and wires packages together:
//
//	airgap-site/bundle             the bundle format (an OCI layout plus bundle.json)
//	airgap-site/bundle/serve       the read-only registry under the Talos mirror scheme,
//	                               /v2/<upstream>/<path>: the last endpoint of every mirror
//	                               while the site registry does not exist yet
//	airgap-site/internal/pull      the images file, and pulling images into a bundle
//	airgap-site/internal/progress  the progress lines of bundle
//	airgap-site/signing            cosign-format signatures (bundle.json.sig, SHA256SUMS.sig)
//	airgap-site/fleet              the fleet view
//	airgap-site/registrygc         the registry's garbage collection, push endpoint stopped
//	airgap-site/components/site    the site program, compiled in so the offline kit needs no
//	                               Go toolchain
package main
