package blobupload

import (
	"context"
	"errors"
	"io"

	"golang.org/x/time/rate"
)

// NewLimiter is a cap of bytesPerSecond for all the uploads that share it (nil for 0: no cap).
// Its burst is a twentieth of a second's worth (1 KiB to 64 KiB), so the cap holds over
// seconds, not only on average over minutes.
func NewLimiter(bytesPerSecond int64) *rate.Limiter {
	if bytesPerSecond <= 0 {
		return nil
	}
	burst := min(max(bytesPerSecond/20, 1<<10), 64<<10)
	return rate.NewLimiter(rate.Limit(bytesPerSecond), int(burst))
}

// body is one PATCH body: n bytes of the blob from an offset, read at the limiter's pace and
// counted as they go to the transport.
type body struct {
	ctx  context.Context
	rc   io.ReadCloser
	left int64
	lim  *rate.Limiter
	// read is told of every n bytes read.
	read func(n int64)
	// fail turns a read error of the source into the error Upload returns (the transport
	// may report it otherwise).
	fail func(error) error
}

func (b *body) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.left)]
	if b.lim != nil && b.lim.Limit() != rate.Inf {
		p = p[:min(len(p), b.lim.Burst())]
	}
	n, err := b.rc.Read(p)
	if n > 0 {
		if b.lim != nil && b.lim.Limit() != rate.Inf {
			if werr := b.lim.WaitN(b.ctx, n); werr != nil {
				return 0, werr
			}
		}
		b.left -= int64(n)
		b.read(int64(n))
	}
	if errors.Is(err, io.EOF) && b.left > 0 {
		err = io.ErrUnexpectedEOF // the blob is shorter than its size
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, b.fail(err)
	}
	if b.left == 0 {
		err = io.EOF
	}
	return n, err
}

func (b *body) Close() error { return b.rc.Close() }

// Reader is rc read at lim's pace (as is when lim is nil): the bytes a process sends another
// way than Upload (small blobs, manifests) are charged to the same cap, so it holds for all.
func Reader(ctx context.Context, rc io.ReadCloser, lim *rate.Limiter) io.ReadCloser {
	if lim == nil || lim.Limit() == rate.Inf {
		return rc
	}
	return &limited{ctx: ctx, rc: rc, lim: lim}
}

type limited struct {
	ctx context.Context
	rc  io.ReadCloser
	lim *rate.Limiter
}

func (l *limited) Read(p []byte) (int, error) {
	p = p[:min(len(p), l.lim.Burst())]
	n, err := l.rc.Read(p)
	if n > 0 {
		if werr := l.lim.WaitN(l.ctx, n); werr != nil {
			return 0, werr
		}
	}
	return n, err
}

func (l *limited) Close() error { return l.rc.Close() }
