package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// sessionPath is the PATH of every SSH session on a node: the node's shims
// (systemctl, sudo, journalctl) first.
func sessionPath(nodeDir string) string {
	return nodeDir + "/sim-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

// sshServer is the embedded SSH server of one node: public-key auth against
// DIR/authorized_keys, exec through /bin/sh -c, the sftp subsystem.
type sshServer struct {
	node     NodeInfo
	authKeys string
	config   *ssh.ServerConfig
	listener net.Listener
	logger   *log.Logger

	mu     sync.Mutex
	conns  map[*ssh.ServerConn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newSSHServer(node NodeInfo, hostKeyPath, authKeysPath string, logger *log.Logger) (*sshServer, error) {
	signer, err := readSigner(hostKeyPath)
	if err != nil {
		return nil, err
	}
	s := &sshServer{node: node, authKeys: authKeysPath, logger: logger, conns: map[*ssh.ServerConn]struct{}{}}
	s.config = &ssh.ServerConfig{
		PublicKeyCallback: s.checkKey,
		ServerVersion:     "SSH-2.0-nwroll_sim",
		MaxAuthTries:      6,
	}
	s.config.AddHostKey(signer)
	l, err := net.Listen("tcp", node.SSHAddr)
	if err != nil {
		return nil, fmt.Errorf("node %s: ssh listen: %w", node.Name, err)
	}
	s.listener = l
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// checkKey accepts keys listed in authorized_keys (read on every attempt, as sshd does).
func (s *sshServer) checkKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	keys, err := readAuthorizedKeys(s.authKeys)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if bytes.Equal(k.Marshal(), key.Marshal()) {
			return &ssh.Permissions{}, nil
		}
	}
	return nil, fmt.Errorf("public key of %s@%s is not in %s", meta.User(), meta.RemoteAddr(), s.authKeys)
}

func (s *sshServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.listener.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handleConn(c)
		}()
	}
}

// Close stops listening and drops every connection (killing their commands).
func (s *sshServer) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.listener.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return err
}

func (s *sshServer) handleConn(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(20 * time.Second)) // handshake bound
	conn, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.conns[conn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()

	go func() {
		for r := range reqs {
			// tcpip-forward and friends: no port forwarding on the simulator.
			if r.WantReply {
				_ = r.Reply(false, nil)
			}
		}
	}()
	var sessions sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.Prohibited, "the nwroll simulator's SSH server allows sessions only (no port forwarding)")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			s.session(conn.User(), ch, creqs)
		}()
	}
	sessions.Wait()
}

// session runs one SSH session channel.
func (s *sshServer) session(user string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	ss := &sshSession{srv: s, user: user, ch: ch, done: make(chan struct{})}
	for {
		var r *ssh.Request
		var ok bool
		select {
		case r, ok = <-reqs:
		case <-ss.done:
			// The command finished and the exit status was sent.
			return
		}
		if !ok {
			// The channel closed under us: end whatever runs in the session.
			ss.signal(syscall.SIGKILL)
			if ss.started {
				<-ss.done
			}
			return
		}
		switch r.Type {
		case "env":
			ss.setEnv(r)
		case "exec":
			ss.exec(r)
		case "subsystem":
			ss.subsystem(r)
		case "shell":
			ss.shell(r)
		case "pty-req", "window-change", "x11-req", "auth-agent-req@openssh.com":
			reply(r, r.Type == "window-change")
		case "signal":
			var p struct{ Signal string }
			if ssh.Unmarshal(r.Payload, &p) == nil {
				ss.signal(parseSignal(p.Signal))
			}
			reply(r, true)
		default:
			reply(r, false)
		}
	}
}

// sshSession is one session channel: at most one exec, subsystem or shell
// runs in it, and done closes once that has ended and its status was sent.
type sshSession struct {
	srv     *sshServer
	user    string
	ch      ssh.Channel
	env     []string
	started bool
	done    chan struct{}

	procMu sync.Mutex
	proc   *exec.Cmd
}

// setEnv accepts the locale variables only.
func (ss *sshSession) setEnv(r *ssh.Request) {
	var kv struct{ Name, Value string }
	if err := ssh.Unmarshal(r.Payload, &kv); err == nil && (kv.Name == "LANG" || strings.HasPrefix(kv.Name, "LC_")) {
		ss.env = append(ss.env, kv.Name+"="+kv.Value)
		reply(r, true)
	} else {
		reply(r, false)
	}
}

// signal sends sig to the command's process group, if a command runs.
func (ss *sshSession) signal(sig syscall.Signal) {
	ss.procMu.Lock()
	defer ss.procMu.Unlock()
	if ss.proc != nil && ss.proc.Process != nil {
		_ = syscall.Kill(-ss.proc.Process.Pid, sig)
	}
}

// exec runs the command through /bin/sh -c in the node's directory, with
// the channel as its stdin, stdout and stderr.
func (ss *sshSession) exec(r *ssh.Request) {
	var p struct{ Command string }
	if ss.started || ssh.Unmarshal(r.Payload, &p) != nil {
		reply(r, false)
		return
	}
	cmd := ss.command(p.Command)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		reply(r, false)
		return
	}
	cmd.Stdout = ss.ch
	cmd.Stderr = ss.ch.Stderr()
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		reply(r, false)
		return
	}
	ss.procMu.Lock()
	ss.proc = cmd
	ss.procMu.Unlock()
	ss.started = true
	reply(r, true)
	go func() {
		_, _ = io.Copy(stdin, ss.ch)
		stdin.Close()
	}()
	go func() {
		err := cmd.Wait()
		stdin.Close()
		sendExit(ss.ch, cmd, err)
		close(ss.done)
	}()
}

// command is line under /bin/sh -c, in its own process group, with the
// environment of a login on the node.
func (ss *sshSession) command(line string) *exec.Cmd {
	nodeDir := ss.srv.node.NodeDir
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Dir = nodeDir
	cmd.Env = append([]string{
		"PATH=" + sessionPath(nodeDir),
		"HOME=" + nodeDir,
		"USER=" + ss.user,
		"LOGNAME=" + ss.user,
		"SHELL=/bin/sh",
		"SSH_CONNECTION=1",
	}, ss.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// subsystem serves sftp, rooted at the node's directory; no other subsystem.
func (ss *sshSession) subsystem(r *ssh.Request) {
	var p struct{ Name string }
	if ss.started || ssh.Unmarshal(r.Payload, &p) != nil || p.Name != "sftp" {
		reply(r, false)
		return
	}
	ss.started = true
	reply(r, true)
	go func() {
		srv, err := sftp.NewServer(ss.ch, sftp.WithServerWorkingDirectory(ss.srv.node.NodeDir))
		if err == nil {
			if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
				ss.srv.logger.Printf("node %s: sftp: %v", ss.srv.node.Name, err)
			}
			srv.Close()
		}
		_, _ = ss.ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
		close(ss.done)
	}()
}

// shell refuses an interactive shell politely, with exit status 1.
func (ss *sshSession) shell(r *ssh.Request) {
	if ss.started {
		reply(r, false)
		return
	}
	ss.started = true
	reply(r, true)
	go func() {
		fmt.Fprintf(ss.ch.Stderr(), "This is a simulated Neuwerk node (%s, nwroll sim): interactive shells are not offered.\r\nRun one command at a time: ssh ... 'systemctl status neuwerk.service'\r\n", ss.srv.node.Name)
		_, _ = ss.ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{1}))
		close(ss.done)
	}()
}

func reply(r *ssh.Request, ok bool) {
	if r.WantReply {
		_ = r.Reply(ok, nil)
	}
}

// sendExit sends exit-status (or exit-signal) and EOF.
func sendExit(ch ssh.Channel, cmd *exec.Cmd, waitErr error) {
	_ = ch.CloseWrite()
	if cmd.ProcessState != nil {
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			name := strings.TrimPrefix(signalName(ws.Signal()), "SIG")
			_, _ = ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
				Signal     string
				CoreDumped bool
				Error      string
				Lang       string
			}{name, false, "", ""}))
			return
		}
		code := cmd.ProcessState.ExitCode()
		if code < 0 {
			code = 255
		}
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
		return
	}
	_ = waitErr
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{255}))
}
