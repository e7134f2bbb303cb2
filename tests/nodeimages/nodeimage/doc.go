// Package nodeimage builds the pod images of the local site's real node (kubelet, containerd
// and runc with no internet) and writes them into a bundle under their upstream names, so the
// node pulls them through the site's mirrors exactly as a factory node would:
//
//	docker.io/library/registry:<siteconfig.RegistryVersion>  the pinned distribution binary
//	registry.k8s.io/pause:3.10                               the pod sandbox (../pause)
//	docker.io/factory/app:1                                  a small factory app (../app)
//
// Nothing is pulled: each image is one static binary on a shared base layer (/etc/passwd,
// /etc/group, /tmp) built here from a tar stream. The images run as non-root numeric users and
// declare linux/amd64, which containerd requires. Every timestamp is Epoch and every tar
// header is fixed, so the same binaries always give the same digests. They are labelled as
// test builds: they are not the upstream images.
package nodeimage
