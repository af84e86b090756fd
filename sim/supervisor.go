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
	"maps"
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
	dir  string
	info *Info
	log  *log.Logger
	lock *os.File
	ctl  net.Listener

	mu       sync.Mutex // guards info.Nodes, services, ssh and sshds (launch, terminate)
	services map[string]*service
	ssh      map[string]*sshServer  // embedded SSH, by node
	sshds    map[string]*daemonProc // OpenSSH, by node
	inflight sync.WaitGroup         // control requests being answered

	// Cloud mode: the fake cloud, its server and snapshot persistence.
	fake      fakeCloud
	cloudSrv  io.Closer
	cloudDone chan struct{}
	cloudMu   sync.Mutex // guards lastSnap and writes of cloud.json
	lastSnap  []byte

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
	s = &supervisor{dir: dir, info: info, log: logger, services: map[string]*service{},
		ssh: map[string]*sshServer{}, sshds: map[string]*daemonProc{}, finished: make(chan struct{})}
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
	logger.Printf("cluster %s: block 127.0.%d.0/24, %d nodes, ssh %s", info.Cluster, info.Block, len(info.LiveNodes()), info.SSHMode)

	live := info.LiveNodes()
	for _, n := range live {
		s.services[n.Name] = newService(n, s.record)
	}

	// SSH first, so a node is reachable as soon as it runs.
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for _, n := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.startSSH(n); err != nil {
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

	for _, n := range live {
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
	if err := s.startCloud(); err != nil {
		return nil, err
	}
	logger.Printf("ready; control socket %s", filepath.Join(dir, supervisorSock))
	return s, nil
}

// startSSH starts node n's SSH server (embedded or OpenSSH) and records it.
func (s *supervisor) startSSH(n NodeInfo) error {
	if s.info.SSHMode == SSHOpenSSH {
		d, err := startSSHD(s.dir, n, s.record)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.sshds[n.Name] = d
		s.mu.Unlock()
		return nil
	}
	srv, err := newSSHServer(n, filepath.Join(n.NodeDir, "ssh_host_ed25519_key"), filepath.Join(s.dir, authKeysFile), s.log)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ssh[n.Name] = srv
	s.mu.Unlock()
	return nil
}

// stopSSH stops node name's SSH server.
func (s *supervisor) stopSSH(name string) {
	s.mu.Lock()
	srv, d := s.ssh[name], s.sshds[name]
	delete(s.ssh, name)
	delete(s.sshds, name)
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	if d != nil {
		d.stop(5 * time.Second)
	}
}

// launch starts a node Cluster.Launch has just written and recorded in
// sim.json: its SSH server, then its service.
func (s *supervisor) launch(name string) error {
	info, err := readInfo(s.dir)
	if err != nil {
		return err
	}
	n, ok := info.Node(name)
	if !ok || n.Terminated() {
		return fmt.Errorf("sim.json has no live node %q to launch", name)
	}
	s.mu.Lock()
	if s.services[name] != nil {
		s.mu.Unlock()
		return fmt.Errorf("node %s already runs", name)
	}
	svc := newService(n, s.record)
	s.services[name] = svc
	s.info.Nodes = append(s.info.Nodes, n)
	s.mu.Unlock()
	if err := s.startSSH(n); err != nil {
		return fmt.Errorf("node %s: ssh: %w", name, err)
	}
	if err := svc.Start(); err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	s.log.Printf("node %s launched (%s)", name, n.IP)
	return nil
}

// terminate stops node name's service (SIGTERM, SIGKILL after 5 s) and SSH
// server, and forgets it.
func (s *supervisor) terminate(name string) error {
	s.mu.Lock()
	svc := s.services[name]
	s.mu.Unlock()
	if svc == nil {
		return fmt.Errorf("no running node %q in cluster %s", name, s.info.Cluster)
	}
	err := svc.Stop()
	s.stopSSH(name)
	s.mu.Lock()
	delete(s.services, name)
	for i := range s.info.Nodes {
		if s.info.Nodes[i].Name == name {
			s.info.Nodes[i].State = NodeTerminated
		}
	}
	s.mu.Unlock()
	s.log.Printf("node %s terminated", name)
	return err
}

// service returns node name's service, nil if it does not run here.
func (s *supervisor) service(name string) *service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.services[name]
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
	if o := s.info.Owner; o != nil {
		go s.watchOwner(*o)
	}
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

// ownerEvery is how often the supervisor looks for its owner.
const ownerEvery = 500 * time.Millisecond

// watchOwner brings the cluster down once its owner has ended.
func (s *supervisor) watchOwner(o Owner) {
	t := time.NewTicker(ownerEvery)
	defer t.Stop()
	for {
		select {
		case <-s.finished:
			return
		case <-t.C:
			if ownerGone(o) {
				s.log.Printf("owner pid %d has ended: bringing the cluster down", o.Pid)
				s.down()
				return
			}
		}
	}
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
	svc := s.service(req.Node)
	needNode := func() *ctlResponse {
		if svc == nil {
			s.mu.Lock()
			names := namesOf(s.info.LiveNodes())
			s.mu.Unlock()
			return &ctlResponse{Error: fmt.Sprintf("no node %q in cluster %s (nodes: %v)", req.Node, s.info.Cluster, names), Exit: 1}
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
		s.mu.Lock()
		var svcs []*service
		for _, n := range s.info.LiveNodes() {
			if svc := s.services[n.Name]; svc != nil {
				svcs = append(svcs, svc)
			}
		}
		for _, d := range s.sshds {
			resp.SSHPids = append(resp.SSHPids, d.pid)
		}
		s.mu.Unlock()
		for _, svc := range svcs {
			resp.Services = append(resp.Services, svc.Status())
		}
		return resp
	case "launch":
		if err := s.launch(req.Node); err != nil {
			return ctlResponse{Error: err.Error(), Exit: 1}
		}
		return ctlResponse{Pid: os.Getpid()}
	case "terminate":
		if err := s.terminate(req.Node); err != nil {
			return ctlResponse{Error: err.Error(), Exit: 1}
		}
		return ctlResponse{Pid: os.Getpid()}
	case "cloud-state", "cloud-group", "cloud-fault", "cloud-clear":
		return s.cloudControl(req)
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
		s.stopCloud() // first, so the group launches and terminates nothing more
		var wg sync.WaitGroup
		s.mu.Lock()
		services := maps.Clone(s.services)
		sshs, sshds := maps.Clone(s.ssh), maps.Clone(s.sshds)
		s.mu.Unlock()
		for name, svc := range services {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := svc.Stop(); err != nil {
					s.log.Printf("node %s: stop: %v", name, err)
				}
			}()
		}
		wg.Wait()
		for _, srv := range sshs {
			srv.Close()
		}
		for _, d := range sshds {
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

func namesOf(nodes []NodeInfo) []string {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	return names
}
