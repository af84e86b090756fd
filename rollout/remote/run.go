package remote

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/nwroll/nwroll/rollout/inventory"
)

// maxLine bounds one reported line; longer ones are split.
const maxLine = 64 << 10

// cancelGrace is how long Run waits, after signalling a cancelled command,
// for its session to end before closing it.
const cancelGrace = time.Second

// sshRemote is a handle on a node's pooled connection.
type sshRemote struct {
	d      *SSHDialer
	node   inventory.Node
	closed atomic.Bool
}

var _ Remote = (*sshRemote)(nil)

func (r *sshRemote) Close() error {
	r.closed.Store(true)
	return nil
}

// session opens a session on the node's connection; release it after
// closing the session.
func (r *sshRemote) session(ctx context.Context) (*ssh.Session, func(), error) {
	if r.closed.Load() {
		return nil, nil, ErrClosed
	}
	return channel(ctx, r.d, r.node, "open an SSH session", func(c *ssh.Client) (*ssh.Session, error) {
		return c.NewSession()
	})
}

type line struct {
	stream Stream
	text   string
}

// Run implements Remote.
func (r *sshRemote) Run(ctx context.Context, cmd Command, onLine func(Stream, string)) (Result, error) {
	if len(cmd.Argv) == 0 {
		return Result{}, errors.New("remote: Run with an empty command")
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	sess, release, err := r.session(ctx)
	if err != nil {
		return Result{}, err
	}
	defer release()
	defer sess.Close()
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	stderr, err := sess.StderrPipe()
	if err != nil {
		return Result{}, err
	}
	if cmd.Stdin != nil {
		sess.Stdin = cmd.Stdin
	}
	op := fmt.Sprintf("run %s", cmd)
	if err := sess.Start(cmd.wire()); err != nil {
		return Result{}, &TransportError{Node: r.node.Name, Op: op, Err: err}
	}

	lines := make(chan line, 256)
	var wg sync.WaitGroup
	var pid atomic.Int64
	wg.Add(2)
	go scanLines(stdout, Stdout, lines, &wg, nil)
	go scanLines(stderr, Stderr, lines, &wg, &pid)
	go func() { wg.Wait(); close(lines) }()
	waited := make(chan error, 1)

	cancelled := func() (Result, error) {
		go func() {
			for range lines { // let the readers finish
			}
		}()
		_ = sess.Signal(ssh.SIGTERM)
		r.killGroup(ctx, pid.Load())
		go func() { waited <- sess.Wait() }()
		t := time.NewTimer(cancelGrace)
		defer t.Stop()
		select {
		case <-waited:
		case <-t.C:
		}
		sess.Close()
		return Result{}, ctx.Err()
	}
	for open := true; open; {
		select {
		case l, ok := <-lines:
			if !ok {
				open = false
				break
			}
			if onLine != nil {
				onLine(l.stream, l.text)
			}
		case <-ctx.Done():
			return cancelled()
		}
	}
	go func() { waited <- sess.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		// The output streams ended, but not the command.
		_ = sess.Signal(ssh.SIGTERM)
		r.killGroup(ctx, pid.Load())
		sess.Close()
		return Result{}, ctx.Err()
	}
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	var ee *ssh.ExitError
	var me *ssh.ExitMissingError
	switch {
	case err == nil:
		return Result{ExitCode: 0}, nil
	case errors.As(err, &ee):
		if ee.Signal() != "" {
			return Result{ExitCode: -1, Signal: ee.Signal()}, nil
		}
		return Result{ExitCode: ee.ExitStatus()}, nil
	case errors.As(err, &me):
		return Result{}, &TransportError{Node: r.node.Name, Op: op,
			Err: errors.New("the connection ended before the command's exit status arrived; it may or may not have completed")}
	default:
		return Result{}, &TransportError{Node: r.node.Name, Op: op, Err: err}
	}
}

// killGroup sends SIGTERM to the remote command's process group (and the
// process itself) over a separate session, for servers that ignore the SSH
// signal request. Bounded; best effort.
func (r *sshRemote) killGroup(ctx context.Context, pid int64) {
	if pid <= 1 {
		return
	}
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelGrace)
	defer cancel()
	sess, release, err := r.session(kctx)
	if err != nil {
		return
	}
	defer release()
	defer sess.Close()
	p := strconv.FormatInt(pid, 10)
	done := make(chan struct{})
	go func() {
		_ = sess.Run("kill -TERM -- -" + p + " 2>/dev/null || kill -TERM " + p + " 2>/dev/null")
		close(done)
	}()
	select {
	case <-done:
	case <-kctx.Done():
	}
}

// scanLines sends r's lines (without their line ending) to out. With pid
// set, the line carrying pidMarker (the first the command's shell writes to
// stderr) is consumed into it.
func scanLines(r io.Reader, s Stream, out chan<- line, wg *sync.WaitGroup, pid *atomic.Int64) {
	defer wg.Done()
	br := bufio.NewReaderSize(r, 32<<10)
	var partial []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			partial = append(partial, chunk...)
			if chunk[len(chunk)-1] == '\n' || len(partial) >= maxLine {
				text := trimEOL(partial)
				partial = partial[:0]
				if pid != nil && pid.Load() == 0 {
					if rest, ok := strings.CutPrefix(text, pidMarker); ok {
						if v, perr := strconv.ParseInt(rest, 10, 64); perr == nil {
							pid.Store(v)
							continue
						}
					}
				}
				out <- line{s, text}
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if len(partial) > 0 {
				out <- line{s, trimEOL(partial)}
			}
			// Drain, so the session never blocks on an unread stream.
			_, _ = io.Copy(io.Discard, r)
			return
		}
	}
}

func trimEOL(b []byte) string {
	n := len(b)
	if n > 0 && b[n-1] == '\n' {
		n--
		if n > 0 && b[n-1] == '\r' {
			n--
		}
	}
	return string(b[:n])
}
