package sim

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Service manager defaults. systemd's unit has RestartSec=5; the simulator
// restarts after 2 s so tests and rehearsals move faster.
const (
	DefaultRestartDelay = 2 * time.Second
	DefaultStopTimeout  = 5 * time.Second
	unitName            = "neuwerk.service"
)

// service is one node's neuwerk.service with systemd semantics:
// Type=simple, Restart=on-failure, KillMode=control-group, SIGTERM then
// SIGKILL after the stop timeout.
type service struct {
	node         NodeInfo
	restartDelay time.Duration
	stopTimeout  time.Duration
	record       func(pid int, kind, name string)

	mu        sync.Mutex
	active    string // active | activating | deactivating | inactive | failed
	sub       string // running | auto-restart | stop-sigterm | stop-sigkill | dead | failed
	result    string // success | exit-code | signal | timeout
	cmd       *exec.Cmd
	pid       int
	since     time.Time
	exited    chan struct{} // closed when the current process has been reaped
	stopping  bool
	killed    bool // the stop timeout ran out and SIGKILL was sent
	timer     *time.Timer
	gen       int // bumps on every start/stop, so stale restart timers do nothing
	nRestarts int
	lastExit  string
}

func newService(node NodeInfo, record func(pid int, kind, name string)) *service {
	return &service{
		node: node, restartDelay: DefaultRestartDelay, stopTimeout: DefaultStopTimeout, record: record,
		active: "inactive", sub: "dead", result: "success", since: time.Now(),
	}
}

// journal appends a systemd-style line to the node's log (what journalctl shows).
func (s *service) journal(format string, args ...any) {
	f, err := os.OpenFile(s.node.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s systemd[1]: %s\n", time.Now().Format(time.StampMilli), s.node.Name, fmt.Sprintf(format, args...))
}

// serviceEnv is the clean environment systemd gives the unit, plus the
// NEUWERK_* knobs and Go tooling variables of the supervisor's environment.
func serviceEnv() []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "NEUWERK_") || k == "TMPDIR" || k == "GOCOVERDIR" || k == "GORACE" || k == "GOTRACEBACK" {
			env = append(env, kv)
		}
	}
	return env
}

// Start is `systemctl start`: a no-op when running; otherwise it launches
// whatever file is at the node's binary path now.
func (s *service) Start() error {
	for {
		s.mu.Lock()
		switch s.active {
		case "active":
			s.mu.Unlock()
			return nil
		case "deactivating":
			// A start queued behind a running stop waits for it, as systemd's job queue does.
			ch := s.exited
			s.mu.Unlock()
			<-ch
			continue
		}
		err := s.spawnLocked()
		s.mu.Unlock()
		return err
	}
}

// spawnLocked starts the process; s.mu is held.
func (s *service) spawnLocked() error {
	s.gen++
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	logf, err := os.OpenFile(s.node.Log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		s.active, s.sub, s.result, s.since = "failed", "failed", "resources", time.Now()
		return fmt.Errorf("open %s: %w", s.node.Log, err)
	}
	defer logf.Close()
	cmd := exec.Command(s.node.Binary)
	cmd.Dir = s.node.NodeDir
	cmd.Env = serviceEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.journal("neuwerk.service: Failed to execute %s: %v", s.node.Binary, err)
		s.journal("neuwerk.service: Main process exited, code=exited, status=203/EXEC")
		s.journal("neuwerk.service: Failed with result 'exit-code'.")
		s.lastExit = "code=exited, status=203/EXEC"
		s.active, s.sub, s.result, s.since = "failed", "failed", "exit-code", time.Now()
		s.scheduleRestartLocked()
		return fmt.Errorf("neuwerk.service failed to start: %v", err)
	}
	s.cmd, s.pid = cmd, cmd.Process.Pid
	s.active, s.sub, s.result, s.since = "active", "running", "success", time.Now()
	s.stopping, s.killed = false, false
	s.exited = make(chan struct{})
	if s.record != nil {
		s.record(s.pid, "service", s.node.Name)
	}
	s.journal("Started neuwerk.service - Neuwerk (pid %d).", s.pid)
	go s.wait(cmd, s.exited)
	return nil
}

// exitDescription renders a wait status the way systemd logs it.
func exitDescription(ps *os.ProcessState) (desc string, clean bool, bySignal bool) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return fmt.Sprintf("code=exited, status=%d", ps.ExitCode()), ps.ExitCode() == 0, false
	}
	if ws.Signaled() {
		sig := ws.Signal()
		name := strings.TrimPrefix(signalName(sig), "SIG")
		return fmt.Sprintf("code=killed, status=%d/%s", int(sig), name), false, true
	}
	return fmt.Sprintf("code=exited, status=%d", ws.ExitStatus()), ws.ExitStatus() == 0, false
}

func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	}
	return fmt.Sprintf("SIG%d", int(sig))
}

func (s *service) wait(cmd *exec.Cmd, exited chan struct{}) {
	_ = cmd.Wait()
	desc, clean, bySignal := exitDescription(cmd.ProcessState)
	s.mu.Lock()
	defer s.mu.Unlock()
	defer close(exited)
	if s.cmd != cmd {
		return
	}
	s.cmd, s.pid = nil, 0
	s.lastExit = desc
	s.since = time.Now()
	sigterm := bySignal && strings.Contains(desc, "/TERM")
	if s.stopping {
		s.stopping = false
		switch {
		case s.killed:
			s.journal("neuwerk.service: State 'stop-sigterm' timed out. Killing.")
			s.journal("neuwerk.service: Main process exited, %s", desc)
			s.journal("neuwerk.service: Failed with result 'timeout'.")
			s.active, s.sub, s.result = "failed", "failed", "timeout"
		case clean || sigterm:
			s.journal("neuwerk.service: Deactivated successfully.")
			s.journal("Stopped neuwerk.service - Neuwerk.")
			s.active, s.sub, s.result = "inactive", "dead", "success"
		default:
			s.journal("neuwerk.service: Main process exited, %s", desc)
			s.journal("neuwerk.service: Failed with result 'exit-code'.")
			s.journal("Stopped neuwerk.service - Neuwerk.")
			s.active, s.sub, s.result = "failed", "failed", "exit-code"
		}
		return
	}
	if clean {
		s.journal("neuwerk.service: Deactivated successfully.")
		s.active, s.sub, s.result = "inactive", "dead", "success"
		return
	}
	s.journal("neuwerk.service: Main process exited, %s", desc)
	if bySignal {
		s.result = "signal"
	} else {
		s.result = "exit-code"
	}
	s.journal("neuwerk.service: Failed with result '%s'.", s.result)
	s.active, s.sub = "failed", "failed"
	s.scheduleRestartLocked()
}

// scheduleRestartLocked applies Restart=on-failure.
func (s *service) scheduleRestartLocked() {
	s.active, s.sub = "activating", "auto-restart"
	gen := s.gen
	s.timer = time.AfterFunc(s.restartDelay, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gen != gen || s.sub != "auto-restart" {
			return
		}
		s.nRestarts++
		s.journal("neuwerk.service: Scheduled restart job, restart counter is at %d.", s.nRestarts)
		_ = s.spawnLocked()
	})
}

// Stop is `systemctl stop`: SIGTERM to the unit's process group, SIGKILL
// after the stop timeout; returns once the process is gone.
func (s *service) Stop() error {
	s.mu.Lock()
	s.gen++
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.cmd == nil {
		if s.active != "inactive" {
			if s.sub == "auto-restart" {
				s.journal("neuwerk.service: Stopped auto-restart (systemctl stop).")
			}
			s.active, s.sub, s.since = "inactive", "dead", time.Now()
			if s.result != "success" {
				s.active, s.sub = "failed", "failed"
			}
		}
		s.mu.Unlock()
		return nil
	}
	exited, pid := s.exited, s.pid
	if !s.stopping {
		s.stopping = true
		s.active, s.sub = "deactivating", "stop-sigterm"
		s.journal("Stopping neuwerk.service - Neuwerk...")
		_ = syscall.Kill(-pid, syscall.SIGTERM)
	}
	s.mu.Unlock()

	select {
	case <-exited:
		return nil
	case <-time.After(s.stopTimeout):
	}
	s.mu.Lock()
	if s.pid == pid {
		s.killed = true
		s.sub = "stop-sigkill"
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	s.mu.Unlock()
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("neuwerk.service: process %d did not exit after SIGKILL", pid)
	}
}

// Signal sends sig to the unit's processes (`systemctl kill`, `sim kill`).
func (s *service) Signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pid == 0 {
		return errors.New("neuwerk.service is not running")
	}
	return syscall.Kill(-s.pid, sig)
}

// Status is a snapshot of the unit.
func (s *service) Status() ServiceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ServiceStatus{
		Node: s.node.Name, ActiveState: s.active, SubState: s.sub, Result: s.result,
		MainPID: s.pid, Since: s.since, NRestarts: s.nRestarts, LastExit: s.lastExit,
	}
}
