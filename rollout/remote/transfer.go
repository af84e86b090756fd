package remote

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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

// Exit statuses of uploadScript (written out in it), besides 0 (installed)
// and 1 (chmod, fsync or rename failed).
const (
	upMismatch = 65 // the bytes that arrived do not have the expected sha256
	upHash     = 70 // the hasher failed
	upCreate   = 71 // the temporary file could not be created
	upWrite    = 74 // writing the temporary file failed (disk full, I/O error)
)

// uploadScript runs on the node with the file's bytes on its standard
// input: $1 temporary name, $2 final name, $3 expected sha256, $4 mode
// (octal). It writes the temporary file, then hashes it in the same
// session while it is still in the page cache (openssl when the node has a
// working one, as it is several times faster than coreutils' sha256sum,
// else sha256sum; the exit statuses of both are checked). Hashing through
// tee in one pass was measured 3x slower: tee's small reads and the pipe
// between three processes cost more than a second read from memory
// (BenchmarkStage64MiB, one node vs scp: 1.09-1.18 through tee, 2.2 now).
// Only when the hash is the expected one and the write and fsync succeeded does it set
// the mode and rename the file into place. Any other end, a signal
// included, removes the temporary file (the EXIT trap). The temporary file
// is created exclusively and private (umask 077) until the rename. Right
// before the rename it writes a line to the client: when the client is
// gone (a kill), that write fails (SIGPIPE) and nothing is installed, so a
// dead client's upload never lands a moment after it died.
const uploadScript = `tmp=$1 dest=$2 want=$3 mode=$4 made= ok=
trap '[ -z "$made" ] || [ -n "$ok" ] || rm -f -- "$tmp"' EXIT
trap 'exit 143' HUP INT TERM PIPE
umask 077
set -C
true >"$tmp" || exit 71
made=1
set +C -f
if openssl dgst -sha256 -r </dev/null >/dev/null 2>&1; then h() { openssl dgst -sha256 -r; }; else h() { sha256sum; }; fi
cat >"$tmp"; t=$?
out=$(h <"$tmp"; echo "hash=$?")
got= s=
for w in $out; do
  case $w in
  hash=*) s=${w#hash=} ;;
  ????????????????????????????????????????????????????????????????) got=$w ;;
  esac
done
[ "$t" = 0 ] || { echo "nwroll: writing $tmp failed (cat exited $t)" >&2; exit 74; }
[ "$s" = 0 ] && [ -n "$got" ] || { echo "nwroll: hashing failed: $out" >&2; exit 70; }
[ "$got" = "$want" ] || { echo "nwroll-sha256 $got"; exit 65; }
chmod "$mode" -- "$tmp" && sync -- "$tmp" || exit 1
printf 'nwroll-installing\n' || exit 75
mv -f -T -- "$tmp" "$dest" || exit 1
ok=1
d=${dest%/*}
sync -- "${d:-/}" 2>/dev/null
exit 0`

// Upload implements Remote: the bytes go over one SSH exec session into
// uploadScript, which writes, hashes, verifies and renames them in one
// round trip.
func (r *sshRemote) Upload(ctx context.Context, localPath, remotePath string, mode os.FileMode, wantSHA256 string, progress func(done, total int64)) error {
	return r.upload(ctx, localPath, remotePath, mode, wantSHA256, progress, false)
}

// UploadPrivileged implements Remote.
func (r *sshRemote) UploadPrivileged(ctx context.Context, localPath, remotePath string, mode os.FileMode, wantSHA256 string, progress func(done, total int64)) error {
	return r.upload(ctx, localPath, remotePath, mode, wantSHA256, progress, r.node.Sudo)
}

func (r *sshRemote) upload(ctx context.Context, localPath, remotePath string, mode os.FileMode, wantSHA256 string, progress func(done, total int64), sudo bool) (err error) {
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
	if want == "" {
		// The node verifies against an expected hash before the rename:
		// without one, it is the local file's.
		if want, err = fileSHA256(src); err != nil {
			return fmt.Errorf("upload to node %s: read %s: %w", r.node.Name, localPath, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, base := path.Split(remotePath)
	tmp := tempName(path.Clean(dir), base)
	op := fmt.Sprintf("upload %s to %s", localPath, remotePath)
	rd := &uploadReader{ctx: ctx, r: src, total: total, progress: progress}
	argv := []string{"sh", "-c", uploadScript, "sh", tmp, remotePath, want, fmt.Sprintf("%o", mode.Perm())}
	var stdout, stderr []string
	res, err := r.Run(ctx, Command{Argv: argv, Sudo: sudo, Stdin: rd}, func(s Stream, l string) {
		if s == Stdout {
			stdout = append(stdout, l)
		} else {
			stderr = append(stderr, l)
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		} else if te := (*TransportError)(nil); errors.As(err, &te) {
			err = &TransportError{Node: r.node.Name, Op: op, Err: te.Err}
		}
		// The script's own trap removes the temporary file when it sees
		// the end of its input or a signal; this covers a node that never
		// got to run it (a dead connection, a killed shell).
		if cerr := r.removeTemp(ctx, tmp, sudo); cerr != nil {
			err = fmt.Errorf("%w (and the temporary file %s could not be removed: %v)", err, tmp, cerr)
		}
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	why := lastOf(stderr)
	switch res.ExitCode {
	case 0:
		if progress != nil {
			progress(total, total)
		}
		return nil
	case upCreate:
		who := r.node.User
		if sudo {
			who = "root"
		}
		return fmt.Errorf("node %s: create %s: %s (does the directory exist, and can %s write to it?)", r.node.Name, tmp, why, who)
	case upMismatch:
		if rd.err != nil {
			return fmt.Errorf("upload to node %s: read %s: %w; nothing was installed", r.node.Name, localPath, rd.err)
		}
		if rd.done != total {
			return &TransportError{Node: r.node.Name, Op: op, Err: fmt.Errorf("sent %d of %d bytes (did %s change while it was read?); nothing was installed", rd.done, total, localPath)}
		}
		// What was sent is not hashed as it goes (the node does that);
		// tell a damaged or changing local file from a corrupted transfer.
		local, lerr := fileSHA256(src)
		if lerr != nil {
			return fmt.Errorf("upload to node %s: read %s: %w; nothing was installed", r.node.Name, localPath, lerr)
		}
		if local != want {
			if wantSHA256 == "" {
				return fmt.Errorf("upload %s to node %s: the file changed while it was read (sha256 %s, then %s); nothing was installed (try again)", localPath, r.node.Name, want, local)
			}
			return fmt.Errorf("upload %s to node %s: the local file's sha256 is %s, not the expected %s: the release on this machine is damaged or not the one meant; nothing was installed",
				localPath, r.node.Name, local, want)
		}
		got := "(none)"
		for _, l := range stdout {
			if v, ok := strings.CutPrefix(l, "nwroll-sha256 "); ok && v != "" {
				got = v
			}
		}
		return fmt.Errorf("upload %s to node %s: the node's copy of %s has sha256 %s, want %s: the transfer was corrupted; nothing was installed (try again)",
			localPath, r.node.Name, remotePath, got, want)
	default:
		if why == "" {
			why = "no output"
		}
		return fmt.Errorf("upload %s to node %s: %s exited %d: %s; nothing was installed", localPath, r.node.Name, remotePath, res.ExitCode, why)
	}
}

func lastOf(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(lines[i]); s != "" {
			return s
		}
	}
	return ""
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

// removeTemp removes a temporary upload, even when ctx has ended or the
// connection dropped (it reconnects).
func (r *sshRemote) removeTemp(ctx context.Context, tmp string, sudo bool) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	res, err := r.Run(cctx, Command{Argv: []string{"rm", "-f", "--", tmp}, Sudo: sudo}, nil)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("rm -f exited %d", res.ExitCode)
	}
	return nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// fileSHA256 is the sha256 of f from its start; f is left at its start.
func fileSHA256(f *os.File) (string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// uploadReader is the upload's standard input: it counts what it reads,
// reports progress and stops when ctx ends. One goroutine reads it.
type uploadReader struct {
	ctx      context.Context
	r        io.Reader
	done     int64
	total    int64
	progress func(done, total int64)
	err      error // a read error other than io.EOF
}

func (u *uploadReader) Read(p []byte) (int, error) {
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := u.r.Read(p)
	if n > 0 {
		u.done += int64(n)
		if u.progress != nil {
			u.progress(u.done, u.total)
		}
	}
	if err != nil && err != io.EOF {
		u.err = err
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
