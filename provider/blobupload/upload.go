package blobupload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/time/rate"

	"airgap-site/internal/nodowngrade"
	"airgap-site/provider/siteregistry"
)

const (
	// DefaultChunkSize is the PATCH size: the S3 driver's default part size, so a cut loses
	// at most one part.
	DefaultChunkSize = 10 << 20
	// MinChunkSize is the smallest chunk but the last: S3's smallest multipart part. A smaller
	// PATCH makes the registry's S3 driver complete and re-copy the upload on every append.
	MinChunkSize = 5 << 20
	// DefaultIdle bounds a request that moves no byte when Options.Transport is not given.
	DefaultIdle = time.Minute

	progressEvery = 500 * time.Millisecond
)

// ErrDigestMismatch is an upload the registry refused because what it received does not hash
// to the blob's digest: the source is corrupt or its digest is wrong. No retry helps.
var ErrDigestMismatch = errors.New("the registry refused the blob: its bytes do not match its digest")

// Options tune an upload.
type Options struct {
	// Auth are the push credentials (nil: anonymous).
	Auth authn.Authenticator
	// Transport is the base transport (the registry's CA, the idle bound:
	// siteregistry.Transport); nil means siteregistry.Transport(nil, DefaultIdle). Upload
	// wraps it with nodowngrade and go-containerregistry's authentication.
	Transport http.RoundTripper
	// PlainHTTP are the registries that may be reached over plain http (none by default).
	PlainHTTP nodowngrade.PlainHTTP
	// Sessions keeps upload sessions across processes (nil: in memory only).
	Sessions *Sessions
	// Limiter caps the rate of PATCH body bytes; share one (NewLimiter) between all the
	// uploads of a process to cap their total. Nil: no cap.
	Limiter *rate.Limiter
	// ChunkSize is the PATCH size: 0 means DefaultChunkSize; at least MinChunkSize.
	ChunkSize int64
	// Retry is how long to keep trying after a failure that made no progress (a cut, a
	// stall, a 5xx); each answered step starts the budget again. The zero Policy tries once:
	// the first cut fails Upload, and the next Upload resumes the session.
	Retry siteregistry.Policy
	// Progress, when set, is told the bytes of the blob done and its size, at most every
	// 500 ms and when the blob is complete. Done goes back after a cut, to what the registry
	// holds.
	Progress func(done, total int64)
}

// Result is what an upload did.
type Result struct {
	// Existed is true when the repository held the blob already: nothing was sent.
	Existed bool
	// Sent are the PATCH body bytes the transport read, resent ones included: what crossed
	// the link, give or take a cut's tail.
	Sent int64
	// Resumes counts the times the upload went on from the offset the registry reported
	// (after a cut, or a session a previous process left).
	Resumes int
	// Restarts counts sessions the registry no longer knew, started again from zero.
	Restarts int
}

// Upload pushes blob into repo in chunks, resuming a session Options.Sessions holds for it.
// On failure the session stays for the next Upload and Result says what was sent.
func Upload(ctx context.Context, repo name.Repository, blob Blob, opts Options) (Result, error) {
	if err := blob.check(); err != nil {
		return Result{}, err
	}
	chunk := opts.ChunkSize
	if chunk == 0 {
		chunk = DefaultChunkSize
	}
	if chunk < MinChunkSize {
		return Result{}, fmt.Errorf("chunk size: %d bytes is below the minimum of %d (5 MiB, the smallest S3 part)", chunk, MinChunkSize)
	}
	u := &uploader{repo: repo, blob: blob, opts: opts, chunk: chunk,
		key: sessionKey(repo.RegistryStr(), repo.RepositoryStr(), blob.Digest.String())}
	unlock, err := opts.Sessions.lock(ctx, u.key)
	if err != nil {
		return Result{}, fmt.Errorf("waiting for another upload of blob %s to %s: %w", blob.Digest, repo, err)
	}
	defer unlock()
	eps := siteregistry.Endpoints{Addrs: []string{repo.RegistryStr()}, Policy: opts.Retry}
	for !u.done {
		if _, err := eps.Do(ctx, u.step); err != nil {
			return u.result(), fmt.Errorf("uploading blob %s to %s: %w", blob.Digest, repo, err)
		}
	}
	if !u.res.Existed {
		u.report(blob.Size, true)
	}
	return u.result(), nil
}

// uploader is one upload's state between steps; each step is one request.
type uploader struct {
	repo  name.Repository
	blob  Blob
	opts  Options
	chunk int64
	key   string

	client  *http.Client
	checked bool // the blob was HEADed and is not there
	session Session
	loc     string // the upload URL of the last answer; "" before the POST
	offset  int64  // what the registry holds, unless sync
	sync    bool   // offset unknown (after a cut, or a saved session): GET the upload URL
	put     bool   // the PUT was answered
	misses  int    // PATCHes refused in a row for their offset
	resumed bool   // this session went on from a reported offset
	// sentWhole is set when the blob is sent again in a new session after a resumed one
	// failed its digest: a second mismatch is the source's.
	sentWhole bool
	done      bool

	res  Result
	sent atomic.Int64

	pmu        sync.Mutex
	lastReport time.Time
}

func (u *uploader) result() Result {
	r := u.res
	r.Sent = u.sent.Load()
	return r
}

func (u *uploader) step(ctx context.Context, _ string) error {
	switch {
	case u.client == nil:
		return u.connect(ctx)
	case !u.checked:
		return u.begin(ctx)
	case u.loc == "":
		return u.post(ctx)
	case u.sync:
		return u.status(ctx)
	case u.offset < u.blob.Size:
		return u.patch(ctx)
	case !u.put:
		return u.commit(ctx)
	default:
		return u.verify(ctx)
	}
}

// connect pings the registry and sets up go-containerregistry's authentication with a push
// scope for the repository.
func (u *uploader) connect(ctx context.Context) error {
	base := u.opts.Transport
	if base == nil {
		base = siteregistry.Transport(nil, DefaultIdle)
	}
	auth := u.opts.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	rt, err := transport.NewWithContext(ctx, u.repo.Registry, auth, nodowngrade.Transport(base, u.opts.PlainHTTP),
		[]string{u.repo.Scope(transport.PushScope)})
	if err != nil {
		return err
	}
	u.client = &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // an upload is never redirected: its bytes stay on the registry
	}}
	return nil
}

// begin HEADs the blob, then takes up a saved session.
func (u *uploader) begin(ctx context.Context) error {
	there, err := u.exists(ctx)
	if err != nil {
		return err
	}
	if there {
		u.res.Existed, u.done = true, true
		return u.opts.Sessions.remove(u.key)
	}
	u.checked = true
	ss, ok, err := u.opts.Sessions.load(u.key)
	if err != nil || !ok {
		return err
	}
	if _, lerr := u.parseLocation(ss.Location, nil); lerr != nil || ss.Size != u.blob.Size {
		return u.opts.Sessions.remove(u.key) // not a session of this blob at this registry
	}
	u.session, u.loc, u.sync = ss, ss.Location, true
	return nil
}

func (u *uploader) post(ctx context.Context) error {
	resp, err := u.do(ctx, http.MethodPost, u.url("/v2/"+u.repo.RepositoryStr()+"/blobs/uploads/"), nil)
	if err != nil {
		return err
	}
	defer drain(resp)
	if err := transport.CheckError(resp, http.StatusAccepted); err != nil {
		return err
	}
	loc, err := u.location(resp)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	u.loc, u.offset, u.sync, u.misses = loc, 0, false, 0
	u.session = Session{Registry: u.repo.RegistryStr(), Repository: u.repo.RepositoryStr(),
		Digest: u.blob.Digest.String(), Size: u.blob.Size, Started: now}
	return u.save()
}

// status asks the registry what it holds of the upload: after a cut, or for a saved session.
func (u *uploader) status(ctx context.Context) error {
	resp, err := u.do(ctx, http.MethodGet, u.loc, nil)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusNotFound {
		return u.lost(ctx)
	}
	if err := transport.CheckError(resp, http.StatusNoContent, http.StatusAccepted); err != nil {
		return err
	}
	end, err := parseRange(resp.Header.Get("Range"))
	if err != nil {
		return err
	}
	offset := end + 1
	if end == 0 {
		offset = 0 // "0-0" is both nothing and one byte: take nothing (a 416 then resyncs)
	}
	if offset > u.blob.Size {
		return u.restart() // the registry holds more than the blob: not an upload of it
	}
	loc, err := u.location(resp)
	if err != nil {
		return err
	}
	u.loc, u.offset, u.sync, u.resumed = loc, offset, false, true
	u.res.Resumes++
	u.report(offset, true)
	return u.save()
}

// lost handles a session the registry no longer knows: purged, or complete (a PUT whose
// answer was lost). The blob's HEAD tells which.
func (u *uploader) lost(ctx context.Context) error {
	there, err := u.exists(ctx)
	if err != nil {
		u.sync = true
		return err
	}
	if there {
		u.done = true
		return u.opts.Sessions.remove(u.key)
	}
	return u.restart()
}

// maxRestarts bounds how often one Upload starts a session again: a registry that loses
// every session would otherwise take the blob in a loop that makes no progress.
const maxRestarts = 3

func (u *uploader) restart() error {
	u.loc, u.offset, u.sync, u.put, u.misses, u.resumed = "", 0, false, false, 0, false
	if err := u.opts.Sessions.remove(u.key); err != nil {
		return err
	}
	if u.res.Restarts++; u.res.Restarts > maxRestarts {
		return &permanentError{fmt.Errorf("the registry lost the upload session %d times", u.res.Restarts)}
	}
	return nil
}

func (u *uploader) patch(ctx context.Context) error {
	start := u.offset
	n := min(u.chunk, u.blob.Size-start)
	if rest := u.blob.Size - start - n; rest > 0 && rest < MinChunkSize {
		// The tail under a part's minimum goes with this chunk: a PATCH of its own would
		// cost the registry a whole resume of the upload (its S3 driver lists the upload and
		// its parts and reads the hash state back) for a few bytes.
		n += rest
	}
	open := func() (io.ReadCloser, error) {
		rc, err := u.blob.Open(start)
		if err != nil {
			return nil, u.source(err)
		}
		pos := start
		return &body{ctx: ctx, rc: rc, left: n, lim: u.opts.Limiter, fail: u.source, read: func(k int64) {
			pos += k
			u.sent.Add(k)
			u.report(pos, false)
		}}, nil
	}
	rc, err := open()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u.loc, rc)
	if err != nil {
		rc.Close()
		return err
	}
	req.GetBody, req.ContentLength = open, n
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", start, start+n-1))
	resp, err := u.client.Do(req)
	if err != nil {
		u.sync = true
		return err
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusRequestedRangeNotSatisfiable:
		// The registry holds another offset than the last answer said: ask it again.
		if u.misses++; u.misses > 3 {
			return u.restart()
		}
		u.sync = true
		return nil
	case http.StatusNotFound:
		return u.lost(ctx)
	}
	if err := transport.CheckError(resp, http.StatusAccepted); err != nil {
		u.sync = true
		return err
	}
	end, err := parseRange(resp.Header.Get("Range"))
	if err != nil {
		u.sync = true
		return err
	}
	offset := end + 1
	if end == 0 && start+n > 1 {
		offset = 0 // "0-0" after more than one byte: the registry kept nothing
	}
	if offset > u.blob.Size {
		return u.restart()
	}
	loc, err := u.location(resp)
	if err != nil {
		return err
	}
	u.loc, u.offset, u.misses = loc, offset, 0
	return u.save()
}

// commit PUTs the digest, which ends the upload.
func (u *uploader) commit(ctx context.Context) error {
	target, err := url.Parse(u.loc)
	if err != nil {
		return err
	}
	q := target.Query()
	q.Set("digest", u.blob.Digest.String())
	target.RawQuery = q.Encode()
	resp, err := u.do(ctx, http.MethodPut, target.String(), nil)
	if err != nil {
		u.sync = true // it may have gone through: the GET then answers 404 and the HEAD decides
		return err
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusNotFound {
		return u.lost(ctx)
	}
	if err := transport.CheckError(resp, http.StatusCreated); err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusBadRequest && hasCode(terr, transport.DigestInvalidErrorCode) {
			if u.resumed && !u.sentWhole {
				// A resumed session can be damaged by the request cut before it: the
				// registry has no per-upload lock, and a stalled PATCH may still write after
				// the resume. Send the blob once more, whole, in a new session.
				u.sentWhole = true
				return u.restart()
			}
			_ = u.opts.Sessions.remove(u.key)
			return fmt.Errorf("%w (blob %s, %d bytes): the source is corrupt or its digest is wrong: %w",
				ErrDigestMismatch, u.blob.Digest, u.blob.Size, err)
		}
		u.sync = true
		return err
	}
	u.put = true
	return nil
}

// verify HEADs the blob after the PUT.
func (u *uploader) verify(ctx context.Context) error {
	there, err := u.exists(ctx)
	if err != nil {
		return err
	}
	if !there {
		return &permanentError{fmt.Errorf("the registry accepted blob %s but does not serve it", u.blob.Digest)}
	}
	u.done = true
	return u.opts.Sessions.remove(u.key)
}

func (u *uploader) exists(ctx context.Context) (bool, error) {
	resp, err := u.do(ctx, http.MethodHead, u.url("/v2/"+u.repo.RepositoryStr()+"/blobs/"+u.blob.Digest.String()), nil)
	if err != nil {
		return false, err
	}
	defer drain(resp)
	if err := transport.CheckError(resp, http.StatusOK, http.StatusNotFound); err != nil {
		return false, err
	}
	return resp.StatusCode == http.StatusOK, nil
}

func (u *uploader) do(ctx context.Context, method, target string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	return u.client.Do(req)
}

func (u *uploader) url(path string) string {
	return (&url.URL{Scheme: u.repo.Scheme(), Host: u.repo.RegistryStr(), Path: path}).String()
}

// location is the upload URL an answer gives, resolved against the request.
func (u *uploader) location(resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", &permanentError{fmt.Errorf("the registry's %s answer (%d) has no Location", resp.Request.Method, resp.StatusCode)}
	}
	return u.parseLocation(loc, resp.Request.URL)
}

// parseLocation resolves loc and refuses one that is not on the registry: the blob's bytes
// (and the credentials) go to the registry only.
func (u *uploader) parseLocation(loc string, base *url.URL) (string, error) {
	l, err := url.Parse(loc)
	if err != nil {
		return "", &permanentError{fmt.Errorf("parsing upload Location %q: %w", loc, err)}
	}
	if base != nil {
		l = base.ResolveReference(l)
	}
	if !strings.EqualFold(l.Host, u.repo.RegistryStr()) || l.User != nil || (l.Scheme != "https" && l.Scheme != "http") {
		return "", &permanentError{fmt.Errorf("refusing upload Location %q: not on the registry %s", loc, u.repo.RegistryStr())}
	}
	return l.String(), nil
}

func (u *uploader) save() error {
	u.session.Location, u.session.Offset, u.session.Updated = u.loc, u.offset, time.Now().UTC()
	return u.opts.Sessions.save(u.session)
}

func (u *uploader) source(err error) error {
	var serr *SourceError
	if errors.As(err, &serr) {
		return err
	}
	return &SourceError{Digest: u.blob.Digest, Err: err}
}

func (u *uploader) report(done int64, force bool) {
	if u.opts.Progress == nil {
		return
	}
	u.pmu.Lock()
	defer u.pmu.Unlock()
	if now := time.Now(); force || now.Sub(u.lastReport) >= progressEvery {
		u.lastReport = now
		u.opts.Progress(done, u.blob.Size)
	}
}

// parseRange reads a Range answer, "0-<end>" (inclusive), and returns end.
func parseRange(h string) (int64, error) {
	s := strings.TrimPrefix(h, "bytes=")
	first, last, ok := strings.Cut(s, "-")
	end, err := strconv.ParseInt(last, 10, 64)
	if !ok || first != "0" || err != nil || end < 0 {
		return 0, &permanentError{fmt.Errorf("parsing the registry's Range %q: want 0-<end>", h)}
	}
	return end, nil
}

func hasCode(terr *transport.Error, code transport.ErrorCode) bool {
	for _, d := range terr.Errors {
		if d.Code == code {
			return true
		}
	}
	return false
}

// drain reads what is left of a small answer so the connection can serve the next request.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// permanentError is a failure no retry fixes (siteregistry.Retryable asks Permanent).
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }
