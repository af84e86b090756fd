package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"golang.org/x/crypto/ssh"
)

// ErrClosed is returned by a Remote used after Close, or by any Remote of a
// closed SSHDialer.
var ErrClosed = errors.New("remote: closed")

// HostKeyKind says what is wrong with a host key.
type HostKeyKind string

const (
	// HostKeyUnknown: known_hosts has no key for this host.
	HostKeyUnknown HostKeyKind = "unknown"
	// HostKeyMismatch: known_hosts has a different key for this host.
	HostKeyMismatch HostKeyKind = "mismatch"
	// HostKeyRevoked: the key is marked @revoked in known_hosts.
	HostKeyRevoked HostKeyKind = "revoked"
)

// HostKeyError stops a connection whose host key known_hosts does not
// vouch for. It is never retried, and nwroll never adds keys itself.
type HostKeyError struct {
	Node        string // inventory node name ("" for a jump host)
	Host        string // host:port as checked against known_hosts
	Port        int
	KeyType     string // the presented key's type, e.g. ssh-ed25519
	Fingerprint string // the presented key's SHA256 fingerprint (ssh.FingerprintSHA256)
	Kind        HostKeyKind
	// KnownHostsFile is the file consulted; for a mismatch or revocation, the
	// file holding the entry, with its Line.
	KnownHostsFile string
	Line           int
}

func (e *HostKeyError) Error() string {
	who := e.Host
	if e.Node != "" {
		who = fmt.Sprintf("node %s (%s)", e.Node, e.Host)
	}
	host, port := splitHostPort(e.Host)
	keyscan := fmt.Sprintf("ssh-keyscan -t %s -p %s %s >> %s", keyTypeArg(e.KeyType), port, host, e.KnownHostsFile)
	var b strings.Builder
	switch e.Kind {
	case HostKeyMismatch:
		fmt.Fprintf(&b, "HOST KEY MISMATCH for %s: it presented %s %s, but %s:%d holds a different key for this host. "+
			"Someone may be intercepting the connection, or the node was reinstalled. Nothing was done on the node.\n", who, e.KeyType, e.Fingerprint, e.KnownHostsFile, e.Line)
		fmt.Fprintf(&b, "Fix: verify the fingerprint above out of band (on the node's console: ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub). "+
			"Only if it is genuine, remove the old entry and add the new one:\n  ssh-keygen -R %s -f %s\n  %s",
			keyFileType(e.KeyType), knownHostsName(host, port), e.KnownHostsFile, keyscan)
	case HostKeyRevoked:
		fmt.Fprintf(&b, "host key of %s (%s %s) is marked @revoked in %s:%d: refusing to connect. Nothing was done on the node.\n"+
			"Fix: find out why the key was revoked; the node needs a new host key, verified out of band and added to %s.",
			who, e.KeyType, e.Fingerprint, e.KnownHostsFile, e.Line, e.KnownHostsFile)
	default:
		fmt.Fprintf(&b, "unknown host key for %s: it presented %s %s, and %s has no entry for this host. "+
			"nwroll never trusts a host key on first use; nothing was done on the node.\n", who, e.KeyType, e.Fingerprint, e.KnownHostsFile)
		fmt.Fprintf(&b, "Fix: verify the fingerprint above out of band (on the node's console: ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub), then add it:\n  %s\n"+
			"  (and check the added line with: ssh-keygen -lf %s)", keyFileType(e.KeyType), keyscan, e.KnownHostsFile)
	}
	return b.String()
}

func splitHostPort(hp string) (string, string) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, "22"
	}
	return h, p
}

func knownHostsName(host, port string) string {
	if port == "22" {
		return host
	}
	return "'[" + host + "]:" + port + "'"
}

func keyTypeArg(t string) string {
	switch {
	case strings.Contains(t, "ed25519"):
		return "ed25519"
	case strings.Contains(t, "ecdsa"):
		return "ecdsa"
	case strings.Contains(t, "rsa"):
		return "rsa"
	}
	return "ed25519,ecdsa,rsa"
}

func keyFileType(t string) string {
	switch k := keyTypeArg(t); k {
	case "ed25519,ecdsa,rsa":
		return "*"
	default:
		return k
	}
}

// AuthError: the node refused every key offered. Never retried.
type AuthError struct {
	Node          string
	Target        string   // user@host:port
	IdentityFiles []string // the identity files offered
	AgentKeys     int      // keys offered from the agent
	AgentSocket   string   // "" when no agent was used
	Skipped       []string // identity files that could not be used, and why
	Err           error
}

func (e *AuthError) Error() string {
	var b strings.Builder
	who := e.Target
	if e.Node != "" {
		who = fmt.Sprintf("node %s (%s)", e.Node, e.Target)
	}
	fmt.Fprintf(&b, "SSH authentication failed for %s: ", who)
	tried := append([]string(nil), e.IdentityFiles...)
	if e.AgentSocket != "" {
		tried = append(tried, fmt.Sprintf("%d key(s) from the agent at %s", e.AgentKeys, e.AgentSocket))
	}
	if len(tried) == 0 {
		b.WriteString("no key was offered (no identity files, no agent at $SSH_AUTH_SOCK)")
	} else {
		b.WriteString("the node accepted none of: " + strings.Join(tried, ", "))
	}
	for _, s := range e.Skipped {
		b.WriteString("; skipped " + s)
	}
	fmt.Fprintf(&b, ".\nFix: load the right key into your agent (ssh-add ~/.ssh/id_ed25519), or list it under ssh.identity_files in the inventory; "+
		"check the user (ssh.user, or user: on the node) and that the key is in ~%s/.ssh/authorized_keys on the node", targetUser(e.Target))
	return b.String()
}

func (e *AuthError) Unwrap() error { return e.Err }

func targetUser(t string) string {
	if i := strings.IndexByte(t, '@'); i > 0 {
		return t[:i]
	}
	return ""
}

// DialError: the connection could not be made, after Attempts tries.
type DialError struct {
	Node     string
	Target   string // user@host:port (via jump hosts, if any)
	Attempts int
	Err      error
}

func (e *DialError) Error() string {
	who := e.Target
	if e.Node != "" {
		who = fmt.Sprintf("node %s (%s)", e.Node, e.Target)
	}
	s := fmt.Sprintf("ssh %s: %v", who, e.Err)
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (gave up after %d attempts)", e.Attempts)
	}
	var oe *ssh.OpenChannelError
	switch {
	case errors.As(e.Err, &oe) && oe.Reason == ssh.Prohibited:
		s += "; the jump host refuses to forward connections: it needs AllowTcpForwarding yes in its sshd_config"
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		s += "; is sshd running on the node, and is the SSH port right (ssh_port / ssh.port)?"
	case isTimeout(e.Err):
		s += "; is the host reachable from here (or through the jump host), and is the address right?"
	}
	return s
}

func (e *DialError) Unwrap() error { return e.Err }

// TransportError: a remote operation failed because the connection did, so
// its outcome on the node is unknown.
type TransportError struct {
	Node string
	Op   string // what was being done
	Err  error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("node %s: %s: %v", e.Node, e.Op, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.ETIMEDOUT)
}

// transient says whether a dial failure is worth another attempt: refused,
// reset, timed out, dropped during the handshake. Host key and auth failures,
// a cancelled context, unknown hosts and refused forwards are not.
func transient(err error) bool {
	var hk *HostKeyError
	var ae *AuthError
	switch {
	case err == nil, errors.As(err, &hk), errors.As(err, &ae),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	var oe *ssh.OpenChannelError
	if errors.As(err, &oe) {
		return oe.Reason == ssh.ConnectionFailed
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.IsTimeout || de.IsTemporary
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isTimeout(err) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe")
}
