package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nwroll/nwroll/health"
)

// SysdumpOptions says where a downloaded sysdump goes.
type SysdumpOptions struct {
	// Path is the exact destination file. When empty, the file goes in Dir
	// under the name from Content-Disposition (or a generated one).
	Path string
	// Dir is the destination directory when Path is empty ("" = current).
	Dir string
	// Progress, if set, is called with the bytes received so far.
	Progress func(bytes int64)
}

// SysdumpResult describes a sysdump saved to disk.
type SysdumpResult struct {
	Path           string // where the archive was written (mode 0600)
	ServerFilename string // the Content-Disposition filename, if any
	Bytes          int64
	SHA256         string // hex
}

// ClusterSysdump calls POST /api/v1/support/sysdump/cluster (admin; proxied
// to the leader) and streams the gzip'd tar to disk. A partial archive
// (some node failed) is still a success: see manifest.json "partial".
func (c *Client) ClusterSysdump(ctx context.Context, opts SysdumpOptions) (SysdumpResult, error) {
	return c.sysdump(ctx, health.PathClusterSysdump, nil, opts)
}

// NodeSysdump calls POST /api/v1/support/sysdump/node on this node only,
// with the fan-out header it requires. It works without a leader.
func (c *Client) NodeSysdump(ctx context.Context, opts SysdumpOptions) (SysdumpResult, error) {
	return c.sysdump(ctx, health.PathNodeSysdump, http.Header{health.SysdumpFanoutHeader: {"1"}}, opts)
}

func (c *Client) sysdump(parent context.Context, path string, extra http.Header, opts SysdumpOptions) (SysdumpResult, error) {
	base := c.apiURL.String()
	ctx, cancel := context.WithTimeout(parent, c.timeouts.Sysdump)
	defer cancel()
	resp, err := c.do(parent, ctx, c.api, http.MethodPost, base, path, true, extra)
	if err != nil {
		return SysdumpResult{}, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return SysdumpResult{}, c.apiError(resp, http.MethodPost, base, path)
	}

	res := SysdumpResult{ServerFilename: contentDispositionFilename(resp.Header.Get("Content-Disposition"))}
	res.Path = opts.Path
	if res.Path == "" {
		name := res.ServerFilename
		if name == "" {
			name = fmt.Sprintf("neuwerk-node-sysdump-%s-%s.tar.gz", safeName(c.name), time.Now().UTC().Format("20060102T150405Z"))
		}
		res.Path = filepath.Join(opts.Dir, name)
	}

	dir := filepath.Dir(res.Path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(res.Path)+".*.partial")
	if err != nil {
		return SysdumpResult{}, fmt.Errorf("%s: sysdump: create temp file in %s: %w", c.name, dir, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return SysdumpResult{}, fmt.Errorf("%s: sysdump: %w", c.name, err)
	}

	sum := sha256.New()
	w := &progressWriter{w: io.MultiWriter(tmp, sum), report: opts.Progress}
	if _, err := io.Copy(w, resp.Body); err != nil {
		if isWriteErr(err) {
			return SysdumpResult{}, fmt.Errorf("%s: sysdump: write %s: %w", c.name, tmp.Name(), err)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) && ctx.Err() == nil {
			return SysdumpResult{}, c.badAnswer(http.MethodPost, path, base,
				fmt.Errorf("archive truncated: the connection closed after %d of %d bytes", w.n, resp.ContentLength))
		}
		return SysdumpResult{}, c.transportError(parent, ctx, http.MethodPost, path, base, err)
	}
	if resp.ContentLength >= 0 && w.n != resp.ContentLength {
		return SysdumpResult{}, c.badAnswer(http.MethodPost, path, base, fmt.Errorf("archive truncated: got %d of %d bytes", w.n, resp.ContentLength))
	}
	if err := tmp.Sync(); err != nil {
		return SysdumpResult{}, fmt.Errorf("%s: sysdump: sync %s: %w", c.name, tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return SysdumpResult{}, fmt.Errorf("%s: sysdump: close %s: %w", c.name, tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), res.Path); err != nil {
		return SysdumpResult{}, fmt.Errorf("%s: sysdump: %w", c.name, err)
	}
	committed = true
	res.Bytes = w.n
	res.SHA256 = hex.EncodeToString(sum.Sum(nil))
	return res, nil
}

// progressWriter counts bytes and reports them after each write.
type progressWriter struct {
	w      io.Writer
	n      int64
	report func(int64)
}

type writeErr struct{ error }

func (e writeErr) Unwrap() error { return e.error }

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if p.report != nil && n > 0 {
		p.report(p.n)
	}
	if err != nil {
		return n, writeErr{err}
	}
	return n, nil
}

func isWriteErr(err error) bool {
	_, ok := err.(writeErr)
	return ok
}

// contentDispositionFilename returns the bare file name of an attachment,
// or "" if there is none or it is unsafe (a path, "..", hidden).
func contentDispositionFilename(header string) string {
	if header == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(header)
	if err != nil {
		return ""
	}
	name := params["filename"]
	if name == "" || name != filepath.Base(name) || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return ""
	}
	return name
}

// safeName keeps a node name usable in a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
