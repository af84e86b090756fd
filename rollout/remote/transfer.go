package remote

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Transfer tuning: concurrent SFTP requests per file, as OpenSSH's sftp and
// scp use (64 outstanding requests). Measured by BenchmarkUpload64MiB.
const (
	sftpConcurrency = 64
	cleanupTimeout  = 30 * time.Second
)

// sftpClient opens an SFTP session on the node's connection. It is closed
// when ctx ends, which aborts any transfer in flight.
func (r *sshRemote) sftpClient(ctx context.Context) (*sftp.Client, func(), error) {
	if r.closed.Load() {
		return nil, nil, ErrClosed
	}
	sc, release, err := channel(ctx, r.d, r.node, "open an SFTP session", func(c *ssh.Client) (*sftp.Client, error) {
		return sftp.NewClient(c,
			sftp.UseConcurrentWrites(true),
			sftp.UseConcurrentReads(true),
			sftp.MaxConcurrentRequestsPerFile(sftpConcurrency))
	})
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { sc.Close() })
	var once sync.Once
	return sc, func() {
		once.Do(func() {
			stop()
			sc.Close()
			release()
		})
	}, nil
}

// tempName is .<base>.nwroll-tmp-<random> in dir.
func tempName(dir, base string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return path.Join(dir, "."+base+".nwroll-tmp-"+hex.EncodeToString(b[:]))
}

// Upload implements Remote.
func (r *sshRemote) Upload(ctx context.Context, localPath, remotePath string, mode os.FileMode, wantSHA256 string, progress func(done, total int64)) (err error) {
	if !path.IsAbs(remotePath) {
		return fmt.Errorf("upload to node %s: remote path %q is not absolute", r.node.Name, remotePath)
	}
	want := strings.ToLower(strings.TrimSpace(wantSHA256))
	if want != "" && !isHexSHA256(want) {
		return fmt.Errorf("upload %s: expected sha256 %q is not 64 hex digits", localPath, wantSHA256)
	}
	src, total, err := r.openUploadSource(localPath)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := ctx.Err(); err != nil {
		return err
	}

	sc, closeSFTP, err := r.sftpClient(ctx)
	if err != nil {
		return err
	}
	defer closeSFTP()
	dir, base := path.Split(remotePath)
	u := &upload{r: r, ctx: ctx, sc: sc, localPath: localPath, tmp: tempName(path.Clean(dir), base),
		op: fmt.Sprintf("upload %s to %s", localPath, remotePath)}

	// From here on, any failure removes the temporary file.
	defer func() {
		if err == nil || !u.created {
			return
		}
		if cerr := r.removeTemp(ctx, u.tmp); cerr != nil {
			err = fmt.Errorf("%w (and the temporary file %s could not be removed: %v)", err, u.tmp, cerr)
		}
	}()
	local, err := u.send(src, total, progress)
	if err != nil {
		return err
	}
	if want != "" && local != want {
		return fmt.Errorf("upload %s to node %s: the local file's sha256 is %s, not the expected %s: the release on this machine is damaged or not the one meant; nothing was installed",
			localPath, r.node.Name, local, want)
	}
	if want == "" {
		want = local
	}
	if err := u.verifyOnNode(want); err != nil {
		return err
	}
	if err := u.install(remotePath, mode); err != nil {
		return err
	}
	if progress != nil {
		progress(total, total)
	}
	return nil
}

// openUploadSource opens the local file to upload and returns its size.
func (r *sshRemote) openUploadSource(localPath string) (*os.File, int64, error) {
	src, err := os.Open(localPath)
	if err != nil {
		return nil, 0, fmt.Errorf("upload to node %s: %w", r.node.Name, err)
	}
	st, err := src.Stat()
	if err != nil {
		src.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		src.Close()
		return nil, 0, fmt.Errorf("upload to node %s: %s is not a regular file", r.node.Name, localPath)
	}
	return src, st.Size(), nil
}

// upload is one file on its way to a node: written to a temporary name,
// verified there, then renamed into place.
type upload struct {
	r         *sshRemote
	ctx       context.Context
	sc        *sftp.Client
	localPath string
	tmp       string
	op        string
	created   bool // the temporary file exists on the node
}

func (u *upload) fail(e error) error {
	if u.ctx.Err() != nil {
		return u.ctx.Err()
	}
	return &TransportError{Node: u.r.node.Name, Op: u.op, Err: e}
}

// send writes src to the temporary file and returns the sha256 of what it sent.
func (u *upload) send(src io.Reader, total int64, progress func(done, total int64)) (string, error) {
	f, err := u.sc.OpenFile(u.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		if u.ctx.Err() != nil {
			return "", u.ctx.Err()
		}
		return "", fmt.Errorf("node %s: create %s: %w (does the directory exist, and can %s write to it?)", u.r.node.Name, u.tmp, err, u.r.node.User)
	}
	u.created = true
	// Private until verified; the final mode is set just before the rename.
	_ = f.Chmod(0o600)
	h := sha256.New()
	rd := &uploadReader{ctx: u.ctx, r: src, h: h, total: total, progress: progress}
	n, err := f.ReadFromWithConcurrency(rd, sftpConcurrency)
	if err != nil {
		f.Close()
		return "", u.fail(err)
	}
	if n != total {
		f.Close()
		return "", u.fail(fmt.Errorf("sent %d of %d bytes (did %s change while it was read?)", n, total, u.localPath))
	}
	if err := f.Sync(); err != nil && !isUnsupported(err) {
		f.Close()
		return "", u.fail(fmt.Errorf("fsync: %w", err))
	}
	if err := f.Close(); err != nil {
		return "", u.fail(fmt.Errorf("close: %w", err))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// verifyOnNode checks the temporary file with the node's own sha256sum.
func (u *upload) verifyOnNode(want string) error {
	got, err := u.r.remoteSHA256(u.ctx, u.tmp)
	if err != nil {
		if u.ctx.Err() != nil {
			return u.ctx.Err()
		}
		return err
	}
	if got != want {
		return fmt.Errorf("upload %s to node %s: the node's copy has sha256 %s, want %s: the transfer was corrupted; nothing was installed (try again)",
			u.localPath, u.r.node.Name, got, want)
	}
	return nil
}

// install gives the verified file its mode and renames it into place.
func (u *upload) install(remotePath string, mode os.FileMode) error {
	if err := u.sc.Chmod(u.tmp, mode.Perm()); err != nil {
		return u.fail(fmt.Errorf("chmod %o %s: %w", mode.Perm(), u.tmp, err))
	}
	if err := u.ctx.Err(); err != nil {
		return err
	}
	if err := u.sc.PosixRename(u.tmp, remotePath); err != nil {
		return u.fail(fmt.Errorf("rename %s to %s: %w", u.tmp, remotePath, err))
	}
	return nil
}

// removeTemp removes a temporary upload, even when ctx has ended or the
// connection dropped (it reconnects).
func (r *sshRemote) removeTemp(ctx context.Context, tmp string) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	res, err := r.Run(cctx, Cmd("rm", "-f", "--", tmp), nil)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("rm -f exited %d", res.ExitCode)
	}
	return nil
}

// remoteSHA256 runs sha256sum on the node.
func (r *sshRemote) remoteSHA256(ctx context.Context, p string) (string, error) {
	var out, errOut []string
	res, err := r.Run(ctx, Cmd("sha256sum", "--", p), func(s Stream, l string) {
		if s == Stdout {
			out = append(out, l)
		} else {
			errOut = append(errOut, l)
		}
	})
	if err != nil {
		return "", err
	}
	if res.ExitCode != 0 || len(out) == 0 {
		return "", fmt.Errorf("node %s: sha256sum %s exited %d: %s (is coreutils' sha256sum installed?)", r.node.Name, p, res.ExitCode, strings.Join(errOut, "; "))
	}
	// GNU sha256sum prefixes the line with \ when it escapes the name.
	fields := strings.Fields(strings.TrimPrefix(out[0], `\`))
	if len(fields) == 0 || !isHexSHA256(fields[0]) {
		return "", fmt.Errorf("node %s: unexpected sha256sum output %q", r.node.Name, out[0])
	}
	return strings.ToLower(fields[0]), nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func isUnsupported(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported
}

// uploadReader feeds the SFTP writer: it hashes what it reads, reports
// progress and stops when ctx ends. sftp reads it from one goroutine.
type uploadReader struct {
	ctx      context.Context
	r        io.Reader
	h        hash.Hash
	done     int64
	total    int64
	progress func(done, total int64)
}

func (u *uploadReader) Read(p []byte) (int, error) {
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := u.r.Read(p)
	if n > 0 {
		u.h.Write(p[:n])
		u.done += int64(n)
		if u.progress != nil {
			u.progress(u.done, u.total)
		}
	}
	return n, err
}

// Download implements Remote.
func (r *sshRemote) Download(ctx context.Context, remotePath, localPath string, mode os.FileMode, progress func(done, total int64)) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	sc, closeSFTP, err := r.sftpClient(ctx)
	if err != nil {
		return err
	}
	defer closeSFTP()
	op := fmt.Sprintf("download %s", remotePath)
	src, err := sc.Open(remotePath)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("node %s: open %s: %w", r.node.Name, remotePath, err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return &TransportError{Node: r.node.Name, Op: op, Err: err}
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("node %s: %s is not a regular file", r.node.Name, remotePath)
	}
	total := st.Size()

	dir, base := filepath.Split(localPath)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".nwroll-tmp-*")
	if err != nil {
		return fmt.Errorf("download %s from node %s: %w", remotePath, r.node.Name, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := &progressWriter{w: tmp, total: total, progress: progress}
	n, err := src.WriteTo(w)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &TransportError{Node: r.node.Name, Op: op, Err: err}
	}
	if n != total {
		return &TransportError{Node: r.node.Name, Op: op, Err: fmt.Errorf("got %d of %d bytes (did the file change while it was read?)", n, total)}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := tmp.Chmod(mode.Perm()); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), localPath); err != nil {
		return err
	}
	if progress != nil {
		progress(total, total)
	}
	return nil
}

type progressWriter struct {
	w        io.Writer
	done     int64
	total    int64
	progress func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.progress != nil && n > 0 {
		p.progress(p.done, p.total)
	}
	return n, err
}
