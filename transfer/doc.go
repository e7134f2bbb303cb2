// Package transfer says, offline, what the next `up` of a site will send to its registry: per
// image and in total, the bytes of every manifest and blob it copies that the site registry
// does not hold yet, read from the stack's state (its inventory, package
// airgap-site/inventory) and the bundle, without reaching the site. With the link's rate
// (images.linkBytesPerSecond) it also says how long that takes. `airgap site preview` prints it
// and `airgap fleet` sums it per site.
//
// Of is the rule, written once, as the provider copies (airgap-site/provider/imagesync): an
// image whose tag already names its bundle digest is not copied again and sends nothing.
// Otherwise the copy sends each of its manifests (and those of its signatures, attestations
// and referrers, copied beside it) that its repository lacks, and each blob the site registry
// holds in no repository: a blob another repository holds is mounted, not sent, and a blob
// two images of one up share is sent by the first and mounted by the other, so each is counted
// once. A layer a delta bundle assumes present but the state does not record is not sendable:
// the up fails for that image (Image.Missing). An image whose state predates inventories
// (provider before 0.5.0) and whose digest changes is counted as if its repository held
// nothing (an upper bound); `airgap site refresh` records what it holds.
//
// ForStack reads the state (auto.Stack.Export) and opens the bundle the site's config names,
// verified, as the provider does.
package transfer
