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
	var env []string
	started := false
	done := make(chan struct{})
	var proc *exec.Cmd
	var procMu sync.Mutex

	for {
		var r *ssh.Request
		var ok bool
		select {
		case r, ok = <-reqs:
		case <-done:
			// The command finished and the exit status was sent.
			return
		}
		if !ok {
			// The channel closed under us: end whatever runs in the session.
			procMu.Lock()
			if proc != nil && proc.Process != nil {
				_ = syscall.Kill(-proc.Process.Pid, syscall.SIGKILL)
			}
			procMu.Unlock()
			if started {
				<-done
			}
			return
		}
		switch r.Type {
		case "env":
			var kv struct{ Name, Value string }
			if err := ssh.Unmarshal(r.Payload, &kv); err == nil && (kv.Name == "LANG" || strings.HasPrefix(kv.Name, "LC_")) {
				env = append(env, kv.Name+"="+kv.Value)
				reply(r, true)
			} else {
				reply(r, false)
			}
		case "exec":
			var p struct{ Command string }
			if started || ssh.Unmarshal(r.Payload, &p) != nil {
				reply(r, false)
				continue
			}
			cmd := exec.Command("/bin/sh", "-c", p.Command)
			cmd.Dir = s.node.NodeDir
			cmd.Env = append([]string{
				"PATH=" + sessionPath(s.node.NodeDir),
				"HOME=" + s.node.NodeDir,
				"USER=" + user,
				"LOGNAME=" + user,
				"SHELL=/bin/sh",
				"SSH_CONNECTION=1",
			}, env...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			stdin, err := cmd.StdinPipe()
			if err != nil {
				reply(r, false)
				continue
			}
			cmd.Stdout = ch
			cmd.Stderr = ch.Stderr()
			cmd.WaitDelay = 5 * time.Second
			if err := cmd.Start(); err != nil {
				reply(r, false)
				continue
			}
			procMu.Lock()
			proc = cmd
			procMu.Unlock()
			started = true
			reply(r, true)
			go func() {
				_, _ = io.Copy(stdin, ch)
				stdin.Close()
			}()
			go func() {
				err := cmd.Wait()
				stdin.Close()
				sendExit(ch, cmd, err)
				close(done)
			}()
		case "subsystem":
			var p struct{ Name string }
			if started || ssh.Unmarshal(r.Payload, &p) != nil || p.Name != "sftp" {
				reply(r, false)
				continue
			}
			started = true
			reply(r, true)
			go func() {
				srv, err := sftp.NewServer(ch, sftp.WithServerWorkingDirectory(s.node.NodeDir))
				if err == nil {
					if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
						s.logger.Printf("node %s: sftp: %v", s.node.Name, err)
					}
					srv.Close()
				}
				_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
				close(done)
			}()
		case "shell":
			if started {
				reply(r, false)
				continue
			}
			started = true
			reply(r, true)
			go func() {
				fmt.Fprintf(ch.Stderr(), "This is a simulated Neuwerk node (%s, nwroll sim): interactive shells are not offered.\r\nRun one command at a time: ssh ... 'systemctl status neuwerk.service'\r\n", s.node.Name)
				_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{1}))
				close(done)
			}()
		case "pty-req", "window-change", "x11-req", "auth-agent-req@openssh.com":
			reply(r, r.Type == "window-change")
		case "signal":
			var p struct{ Signal string }
			if ssh.Unmarshal(r.Payload, &p) == nil {
				procMu.Lock()
				if proc != nil && proc.Process != nil {
					_ = syscall.Kill(-proc.Process.Pid, parseSignal(p.Signal))
				}
				procMu.Unlock()
			}
			reply(r, true)
		default:
			reply(r, false)
		}
	}
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
