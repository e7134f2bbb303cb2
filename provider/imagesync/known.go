package imagesync

import (
	"sort"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Known is a process-wide memory of blobs known to exist in repositories, so a provider that
// copies many images does not ask the registry twice, and knows where to mount from.
type Known struct {
	mu    sync.Mutex
	repos map[repoKey]map[v1.Hash]bool
	// inflight are uploads under way, per registry and blob: the engine copies images in
	// parallel, and images that share a base layer would otherwise all upload it at once.
	inflight map[string]*flight
}

// repoKey is a repository of a registry, named by Options.Site.
type repoKey struct{ site, repo string }

// flight is one blob upload others may wait for, to mount from its repository afterwards.
type flight struct {
	done chan struct{}
	repo string
	err  error
}

// NewKnown returns an empty memory.
func NewKnown() *Known {
	return &Known{repos: map[repoKey]map[v1.Hash]bool{}, inflight: map[string]*flight{}}
}

// begin registers an upload of h to repo. The first caller leads (and must call end); the
// others get the leader's flight to wait on.
func (k *Known) begin(site string, h v1.Hash, repo string) (f *flight, leader bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := site + "@" + h.String()
	if f, ok := k.inflight[key]; ok {
		return f, false
	}
	f = &flight{done: make(chan struct{}), repo: repo}
	k.inflight[key] = f
	return f, true
}

// uploading reports whether a copy of this process is uploading h to site now.
func (k *Known) uploading(site string, h v1.Hash) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.inflight[site+"@"+h.String()]
	return ok
}

func (k *Known) end(site string, h v1.Hash, f *flight, err error) {
	k.mu.Lock()
	delete(k.inflight, site+"@"+h.String())
	k.mu.Unlock()
	f.err = err
	close(f.done)
}

func (k *Known) add(site, repo string, h v1.Hash) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key := repoKey{site, repo}
	if k.repos[key] == nil {
		k.repos[key] = map[v1.Hash]bool{}
	}
	k.repos[key][h] = true
}

func (k *Known) has(site, repo string, h v1.Hash) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.repos[repoKey{site, repo}][h]
}

// holder returns a repository of site (other than except) known to hold h.
func (k *Known) holder(site string, h v1.Hash, except string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var names []string
	for key, blobs := range k.repos {
		if key.site == site && key.repo != except && blobs[h] {
			names = append(names, key.repo)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

// RepositoryName is a MountFrom entry as a repository name in the registry reached at one of
// hosts: provider 0.1 wrote them as host/repository.
func RepositoryName(entry string, hosts ...string) string {
	for _, h := range hosts {
		if rest, ok := strings.CutPrefix(entry, h+"/"); ok {
			return rest
		}
	}
	return entry
}
