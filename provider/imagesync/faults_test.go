package imagesync

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"airgap-site/provider/internal/registrytest"
	"airgap-site/provider/siteregistry"
)

// once are copy options without go-containerregistry's retries, as the provider copies: a
// failure is the copy's, and retrying is the caller's.
func once(o Options) Options {
	o.Remote = siteregistry.NoRetries()
	return o
}

// TestFailedBlobCancelsSiblings: the first failing blob stops the copy at once, and the other
// uploads under way are cancelled instead of running to their end.
func TestFailedBlobCancelsSiblings(t *testing.T) {
	reg := registrytest.New(t)
	img, err := random.Image(256<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	held, gone := make(chan *http.Request, 8), make(chan *http.Request, 8)
	var first = make(chan struct{})
	reg.SetFault(registrytest.When(registrytest.Method(http.MethodPatch, ""), func(w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-first: // the second and later uploads fail, after the first is held
			return registrytest.Drain(registrytest.Status(http.StatusBadRequest))(w, r)
		default:
			close(first)
			return registrytest.Hold(held, gone)(w, r)
		}
	}))
	errc := make(chan error, 1)
	go func() {
		_, err := Copy(context.Background(), Source{Image: img}, reg.Ref(t, "docker.io/library/app:1"), once(Options{Jobs: 4}))
		errc <- err
	}()
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("no upload reached the registry")
	}
	select {
	case err := <-errc:
		var terr *transport.Error
		if !errors.As(err, &terr) || terr.StatusCode != http.StatusBadRequest {
			t.Errorf("err = %v, want the 400 of the failed blob", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the copy waits for a held upload after another blob failed")
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Error("the held upload was not cancelled")
	}
}

// TestSentBytesCountsResentBodiesOnce: a body the transport sends twice (a redirect here; a
// reset connection does the same) is counted once, by the size the registry stored.
func TestSentBytesCountsResentBodiesOnce(t *testing.T) {
	reg := registrytest.New(t)
	img, err := random.Image(128<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	reg.SetFault(registrytest.When(registrytest.Method(http.MethodPatch, ""), registrytest.Times(1, registrytest.Redirect())))
	res, err := Copy(context.Background(), Source{Image: img}, reg.Ref(t, "docker.io/library/app:1"), once(Options{Jobs: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if res.SentBytes != res.TotalBytes {
		t.Errorf("sent %d bytes, the image is %d", res.SentBytes, res.TotalBytes)
	}
	if got := reg.BodyBytes.Load(); got <= res.TotalBytes {
		t.Errorf("the registry received %d body bytes: the redirect did not resend anything", got)
	}
}

// TestSentBytesAcrossAttempts: a copy that fails after some blobs were sent reports them; the
// next try skips those stored and resends the one that failed; their Sent together count every
// byte once.
func TestSentBytesAcrossAttempts(t *testing.T) {
	reg := registrytest.New(t)
	img, err := random.Image(128<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	// The second blob's commit fails once, after its body was sent.
	var commits atomic.Int64
	reg.SetFault(registrytest.When(func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && commits.Add(1) == 2
	}, registrytest.Drain(registrytest.Status(http.StatusInternalServerError))))
	dst := reg.Ref(t, "docker.io/library/app:1")
	first, err := Copy(context.Background(), Source{Image: img}, dst, once(Options{Jobs: 1}))
	if err == nil {
		t.Fatal("the failed commit did not fail the copy")
	}
	second, err := Copy(context.Background(), Source{Image: img}, dst, once(Options{Jobs: 1}))
	if err != nil {
		t.Fatal(err)
	}
	// The blob whose commit failed was sent by both tries: it counts once.
	all := Sizes{}
	all.Add(first.Sent)
	all.Add(second.Sent)
	if first.SentBytes == 0 || first.SentBytes+second.SentBytes <= second.TotalBytes || all.Bytes() != second.TotalBytes {
		t.Errorf("sent %d + %d bytes (%d once), the image is %d", first.SentBytes, second.SentBytes, all.Bytes(), second.TotalBytes)
	}
	if second.BlobsExisting != 1 {
		t.Errorf("second attempt: %+v, want the blob stored by the first one found", second)
	}
}

// TestCopyReverifiesWithoutSending: copying an image the registry holds sends nothing, not
// even its manifests.
func TestCopyReverifiesWithoutSending(t *testing.T) {
	reg := registrytest.New(t)
	idx, err := random.Index(64<<10, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	dst := reg.Ref(t, "ghcr.io/org/multi:2")
	if _, err := Copy(context.Background(), Source{Index: idx}, dst, Options{}); err != nil {
		t.Fatal(err)
	}
	before := reg.BodyBytes.Load()
	res, err := Copy(context.Background(), Source{Index: idx}, dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.SentBytes != 0 || reg.BodyBytes.Load() != before {
		t.Errorf("re-verifying sent %d bytes (%d received)", res.SentBytes, reg.BodyBytes.Load()-before)
	}
}

func TestCorruptSourceIsPermanent(t *testing.T) {
	err := error(&CorruptError{Reason: "corrupt in the source"})
	var p interface{ Permanent() bool }
	if !errors.As(err, &p) || !p.Permanent() {
		t.Error("a corrupt source would be retried")
	}
}

// pushTagged copies one image to repo under every tag, and returns its digest.
func pushTagged(t *testing.T, reg *registrytest.Registry, repo string, tags ...string) string {
	t.Helper()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if err := remote.Write(reg.Ref(t, repo+":"+tag), img); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := img.Digest()
	return d.String()
}

func exists(t *testing.T, reg *registrytest.Registry, ref string) bool {
	t.Helper()
	_, err := remote.Head(reg.Ref(t, ref))
	return err == nil
}

func tag(t *testing.T, reg *registrytest.Registry, s string) name.Tag {
	t.Helper()
	return reg.Ref(t, s).(name.Tag)
}

// TestDeleteTagKeepsSiblings: deleting nginx:1 never removes nginx:stable, which points at the
// same manifest, whether the registry deletes tags (distribution v3) or refuses to.
func TestDeleteTagKeepsSiblings(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		var opts []registrytest.Option
		if refuse {
			opts = append(opts, registrytest.RefuseTagDelete)
		}
		reg := registrytest.New(t, opts...)
		digest := pushTagged(t, reg, "docker.io/library/nginx", "1", "stable")
		d, err := DeleteTag(tag(t, reg, "docker.io/library/nginx:1"), digest)
		if err != nil {
			t.Fatalf("refuse=%v: %v", refuse, err)
		}
		if !exists(t, reg, "docker.io/library/nginx:stable") {
			t.Errorf("refuse=%v: the sibling tag is gone (%+v)", refuse, d)
		}
		switch {
		case !refuse && (exists(t, reg, "docker.io/library/nginx:1") || d.Kept != "" || d.ByDigest):
			t.Errorf("tag delete supported: %+v, tag still there: %v", d, exists(t, reg, "docker.io/library/nginx:1"))
		case refuse && (!strings.Contains(d.Kept, "nginx:stable") || d.ByDigest):
			t.Errorf("tag delete refused: %+v, want the tag kept naming its sibling", d)
		}
	}
}

// TestDeleteTagByDigestWhenAlone: a registry that refuses tag deletes gets the manifest deleted
// by digest, only because no other tag points at it.
func TestDeleteTagByDigestWhenAlone(t *testing.T) {
	reg := registrytest.New(t, registrytest.RefuseTagDelete)
	digest := pushTagged(t, reg, "docker.io/library/nginx", "1")
	pushTagged(t, reg, "docker.io/library/nginx", "2") // another tag, another manifest
	d, err := DeleteTag(tag(t, reg, "docker.io/library/nginx:1"), digest)
	if err != nil || !d.ByDigest || exists(t, reg, "docker.io/library/nginx:1") || !exists(t, reg, "docker.io/library/nginx:2") {
		t.Errorf("%+v, %v", d, err)
	}
}

func TestDeleteTagKeepsAMovedTag(t *testing.T) {
	reg := registrytest.New(t)
	pushTagged(t, reg, "docker.io/library/nginx", "1")
	d, err := DeleteTag(tag(t, reg, "docker.io/library/nginx:1"), "sha256:"+strings.Repeat("0", 64))
	if err != nil || !strings.Contains(d.Kept, "another writer") || !exists(t, reg, "docker.io/library/nginx:1") {
		t.Errorf("%+v, %v", d, err)
	}
	if d, err := DeleteTag(tag(t, reg, "docker.io/library/nginx:9"), ""); err != nil || !d.Gone {
		t.Errorf("missing tag: %+v, %v", d, err)
	}
}
