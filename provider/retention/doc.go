// Package retention decides which previous versions of a site's images the site registry
// keeps for a rollback, and which it deletes.
//
// A version leaves the site's image set when its tag moves to another digest or its image
// leaves the stack (a new app version is usually a new tag). The newest keep versions of each
// repository stay, each under a tag of its own (KeptTag), so that distribution's
// garbage-collect --delete-untagged keeps every blob of it and rolling back is a config
// change that sends no blob. Older ones are deleted by digest (which removes every tag that
// points at them), and the next garbage collection frees their blobs. A version that is
// current again (a rollback) stops being previous; one that is current under another tag of
// its repository is never deleted.
//
// Retire is pure: the provider's Retention resource applies its plan to the registry.
package retention
