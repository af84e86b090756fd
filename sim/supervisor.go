package sim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// supervisor is the one background process of a cluster: it holds the
// address block, runs every node's service manager and SSH server, and
// answers on DIR/supervisor.sock.
type supervisor struct {
	dir      string
	info     *Info
	log      *log.Logger
	lock     *os.File
	services map[string]*service
	ssh      []*sshServer
	sshds    []*daemonProc
	ctl      net.Listener
	inflight sync.WaitGroup // control requests being answered

	downOnce sync.Once
	finished chan struct{}
}

// runSupervisor is `nwroll-sim __sim-supervisor --dir DIR [--lock-fd N]`.
func runSupervisor(args []string) int {
	fs := flag.NewFlagSet("__sim-supervisor", flag.ContinueOnError)
	dir := fs.String("dir", "", "cluster directory")
	lockFD := fs.Int("lock-fd", -1, "inherited descriptor holding the block lock")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger := log.New(os.Stdout, "supervisor: ", log.LstdFlags|log.Lmicroseconds)
	if *dir == "" {
		logger.Print("--dir is required")
		return 2
	}
	s, err := startSupervisor(*dir, *lockFD, logger)
	if err != nil {
		logger.Printf("start failed: %v", err)
		return 1
	}
	s.run()
	return 0
}

func startSupervisor(dir string, lockFD int, logger *log.Logger) (s *supervisor, err error) {
	info, err := readInfo(dir)
	if err != nil {
		return nil, err
	}
	if pid, ok := liveSupervisor(dir); ok {
		return nil, fmt.Errorf("another supervisor (pid %d) runs this cluster", pid)
	}
	s = &supervisor{dir: dir, info: info, log: logger, services: map[string]*service{}, finished: make(chan struct{})}
	defer func() {
		if err != nil {
			s.down()
		}
	}()

	// The address block lock: inherited from `sim up`, or taken afresh.
	if lockFD >= 0 {
		syscall.CloseOnExec(lockFD)
		s.lock = os.NewFile(uintptr(lockFD), blockLockPath(info.Block))
		if err := syscall.Flock(lockFD, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			return nil, fmt.Errorf("inherited lock of block %d: %w", info.Block, err)
		}
	} else {
		l, ok, err := tryLockBlock(info.Block)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("address block 127.0.%d.0/24 is held by another cluster (%s)", info.Block, blockLockPath(info.Block))
		}
		s.lock = l.file
	}
	if err := os.MkdirAll(filepath.Join(dir, runDir), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, supervisorPid), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return nil, err
	}
	s.record(os.Getpid(), "supervisor", info.Cluster)
	logger.Printf("cluster %s: block 127.0.%d.0/24, %d nodes, ssh %s", info.Cluster, info.Block, len(info.Nodes), info.SSHMode)

	for _, n := range info.Nodes {
		s.services[n.Name] = newService(n, s.record)
	}

	// SSH first, so a node is reachable as soon as it runs.
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for _, n := range info.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			switch info.SSHMode {
			case "openssh":
				var d *daemonProc
				if d, err = startSSHD(dir, n, s.record); err == nil {
					mu.Lock()
					s.sshds = append(s.sshds, d)
					mu.Unlock()
				}
			default:
				var srv *sshServer
				if srv, err = newSSHServer(n, filepath.Join(n.NodeDir, "ssh_host_ed25519_key"), filepath.Join(dir, authKeysFile), logger); err == nil {
					mu.Lock()
					s.ssh = append(s.ssh, srv)
					mu.Unlock()
				}
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	for _, n := range info.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.services[n.Name].Start(); err != nil {
				logger.Printf("node %s: %v", n.Name, err)
			}
		}()
	}
	wg.Wait()

	// The control socket last: once it answers, everything above is running.
	if s.ctl, err = listenControl(dir); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	logger.Printf("ready; control socket %s", filepath.Join(dir, supervisorSock))
	return s, nil
}

// record appends a started process to DIR/run/pids, so `sim down` can find
// it even if the supervisor itself was killed.
func (s *supervisor) record(pid int, kind, name string) {
	f, err := os.OpenFile(filepath.Join(s.dir, runDir, pidsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		s.log.Printf("record pid %d: %v", pid, err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%d %s %s\n", pid, kind, name)
	if kind != "supervisor" {
		s.log.Printf("%s %s: pid %d", kind, name, pid)
	}
}

func (s *supervisor) run() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		sig := <-sigs
		s.log.Printf("%v: bringing the cluster down", sig)
		s.down()
	}()
	go s.serveControl()
	<-s.finished
	// Let the request that asked for `down` (and any other) get its answer.
	answered := make(chan struct{})
	go func() { s.inflight.Wait(); close(answered) }()
	select {
	case <-answered:
	case <-time.After(3 * time.Second):
	}
	s.log.Print("down; exiting")
}

func (s *supervisor) serveControl() {
	for {
		c, err := s.ctl.Accept()
		if err != nil {
			return
		}
		s.inflight.Add(1)
		go func() {
			defer s.inflight.Done()
			s.handleControl(c)
		}()
	}
}

func (s *supervisor) handleControl(c net.Conn) {
	defer c.Close()
	var req ctlRequest
	if err := json.NewDecoder(bufio.NewReader(io.LimitReader(c, 1<<20))).Decode(&req); err != nil {
		return
	}
	resp := s.handle(req)
	_ = json.NewEncoder(c).Encode(resp)
}

func (s *supervisor) handle(req ctlRequest) ctlResponse {
	svc := s.services[req.Node]
	needNode := func() *ctlResponse {
		if svc == nil {
			return &ctlResponse{Error: fmt.Sprintf("no node %q in cluster %s (nodes: %v)", req.Node, s.info.Cluster, s.info.NodeNames()), Exit: 1}
		}
		return nil
	}
	switch req.Op {
	case "ping":
		return ctlResponse{Pid: os.Getpid()}
	case "systemctl":
		if r := needNode(); r != nil {
			return *r
		}
		out, errOut, code := systemctl(svc, req.Args)
		return ctlResponse{Stdout: out, Stderr: errOut, Exit: code}
	case "kill":
		if r := needNode(); r != nil {
			return *r
		}
		st := svc.Status()
		if err := svc.Signal(syscall.SIGKILL); err != nil {
			return ctlResponse{Error: fmt.Sprintf("node %s: %v (service is %s)", req.Node, err, st.ActiveState), Exit: 1}
		}
		s.log.Printf("node %s: SIGKILL to pid %d (sim kill)", req.Node, st.MainPID)
		return ctlResponse{Pid: st.MainPID}
	case "services":
		resp := ctlResponse{Pid: os.Getpid()}
		for _, n := range s.info.Nodes {
			resp.Services = append(resp.Services, s.services[n.Name].Status())
		}
		for _, d := range s.sshds {
			resp.SSHPids = append(resp.SSHPids, d.pid)
		}
		return resp
	case "down":
		s.down()
		return ctlResponse{Pid: os.Getpid()}
	}
	return ctlResponse{Error: fmt.Sprintf("unknown supervisor request %q", req.Op), Exit: 1}
}

// down stops every node service and SSH server, releases the block and
// removes the socket and pid file. The process exits right after.
func (s *supervisor) down() {
	s.downOnce.Do(func() {
		defer close(s.finished)
		var wg sync.WaitGroup
		for name, svc := range s.services {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := svc.Stop(); err != nil {
					s.log.Printf("node %s: stop: %v", name, err)
				}
			}()
		}
		wg.Wait()
		for _, srv := range s.ssh {
			srv.Close()
		}
		for _, d := range s.sshds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.stop(5 * time.Second)
			}()
		}
		wg.Wait()
		if s.ctl != nil {
			s.ctl.Close()
			_ = os.Remove(filepath.Join(s.dir, supervisorSock))
		}
		_ = os.Remove(filepath.Join(s.dir, supervisorPid))
		if s.lock != nil {
			s.lock.Close()
		}
		s.log.Print("every node service and SSH server stopped; block released")
	})
}

// liveSupervisor reads DIR/supervisor.pid and reports whether that process
// is a live supervisor of DIR.
func liveSupervisor(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, supervisorPid))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(string(trimSpace(b)))
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return 0, false
	}
	return pid, pidAlive(pid, dir)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// pingSupervisor returns the supervisor's pid if it answers.
func pingSupervisor(ctx context.Context, dir string) (int, error) {
	resp, err := callSupervisor(ctx, dir, ctlRequest{Op: "ping"})
	if err != nil {
		return 0, err
	}
	return resp.Pid, nil
}
