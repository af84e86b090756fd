// Package remote is how nwroll acts on a node: run a command, upload a file,
// download a file, over SSH (golang.org/x/crypto/ssh and github.com/pkg/sftp).
//
// Everything goes through two small interfaces, Dialer and Remote, so the
// engine can be driven against any real server in tests. SSHDialer is the
// implementation: strict host key checking against known_hosts (never trust
// on first use), the agent plus identity files, jump hosts, keepalives, one
// pooled connection per node, bounded retries of transient dial failures, and
// context cancellation everywhere.
package remote

import (
	"context"
	"io"
	"os"
	"strings"

	"github.com/nwroll/nwroll/rollout/inventory"
)

// Dialer connects to nodes.
type Dialer interface {
	// Dial returns a Remote for the node. It connects (or reuses a live
	// connection) before returning, so host key and auth problems show here.
	Dial(ctx context.Context, node inventory.Node) (Remote, error)
}

// Remote acts on one node. Its methods may be called concurrently.
type Remote interface {
	// Run runs cmd and calls onLine (which may be nil) for every line of its
	// stdout and stderr, one call at a time, in order within each stream.
	// A non-zero exit is not an error: it is in Result. An error means the
	// command's outcome is unknown (transport failure) or ctx ended, in which
	// case the remote command is sent SIGTERM, its session is closed and Run
	// returns ctx.Err().
	Run(ctx context.Context, cmd Command, onLine func(stream Stream, line string)) (Result, error)

	// Upload copies localPath to remotePath in one SSH session: to a
	// temporary name in the same remote directory, hashed on the node once
	// written; only when its sha256 is the expected one does it set mode
	// and rename the file into place atomically. wantSHA256 (hex) is the
	// expected sha256; "" expects the local file's. A mismatch tells a
	// local file that is not wantSHA256 from a transfer that was corrupted.
	// progress (may be nil) is called as bytes are sent. On any failure the
	// temporary file is removed and nothing appears under remotePath.
	//
	// The file is written as the SSH user: remotePath's directory must be
	// writable by that user.
	Upload(ctx context.Context, localPath, remotePath string, mode os.FileMode, wantSHA256 string, progress func(done, total int64)) error

	// UploadPrivileged is Upload with the node-side work under sudo -n
	// (when the node's inventory says ssh.sudo), for a remotePath whose
	// directory the SSH user may not write.
	UploadPrivileged(ctx context.Context, localPath, remotePath string, mode os.FileMode, wantSHA256 string, progress func(done, total int64)) error

	// Download copies remotePath to localPath through a temporary file in
	// localPath's directory, renamed into place when complete, with mode.
	Download(ctx context.Context, remotePath, localPath string, mode os.FileMode, progress func(done, total int64)) error

	// Close releases the handle. Further calls fail. (SSHDialer keeps the
	// node's connection pooled until SSHDialer.Close.)
	Close() error
}

// Stream tells stdout from stderr.
type Stream int

const (
	Stdout Stream = iota
	Stderr
)

func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// Result is how a command ended.
type Result struct {
	// ExitCode is the command's exit status, or -1 when a signal ended it.
	ExitCode int
	// Signal names the signal that ended it ("TERM", "KILL"), if one did.
	Signal string
}

// Command is a remote command built from argv. Every argument is quoted
// with Quote, so paths and names never reach the shell unquoted.
type Command struct {
	Argv []string
	// Sudo runs the command as `sudo -n argv...` (never prompts).
	Sudo bool
	// Stdin, when set, is copied to the command's standard input.
	Stdin io.Reader
}

// Cmd is Command{Argv: argv}.
func Cmd(argv ...string) Command { return Command{Argv: argv} }

// Privileged is a command that needs root: under `sudo -n` when the node's
// inventory says ssh.sudo (the default), as is otherwise.
func Privileged(node inventory.Node, argv ...string) Command {
	return Command{Argv: argv, Sudo: node.Sudo}
}

// String is the command line as the node's shell receives it (without the
// leading `exec` the transport adds).
func (c Command) String() string {
	s := Shell(c.Argv...)
	if c.Sudo {
		return "sudo -n " + s
	}
	return s
}

// pidMarker starts the first stderr line of every command: the remote
// shell's pid, which is the command's own after exec. Run uses it to end the
// command's process group when its context ends (OpenSSH ignores the SSH
// "signal" request for root logins), and never passes that line on.
const pidMarker = "\x1enwroll-pid "

// wire is what is sent: the pid line, then `exec` so the command replaces
// the login shell and keeps its pid and process group.
func (c Command) wire() string {
	return `printf '\036nwroll-pid %d\n' $$ >&2; exec ` + c.String()
}

// Quote quotes s for a POSIX shell: words made only of safe characters stay
// as they are, anything else is put in single quotes, with each ' written
// as '\”.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_-./:,+@%", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Shell joins argv into one shell command line, quoting every word.
func Shell(argv ...string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}
