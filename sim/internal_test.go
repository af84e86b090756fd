package sim

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func testService(t *testing.T, body string) *service {
	t.Helper()
	root := t.TempDir()
	n := NodeInfo{Name: "fw-t", NodeDir: root, Binary: filepath.Join(root, "opt/neuwerk/bin/neuwerk"), Log: filepath.Join(root, "neuwerk.log")}
	writeScript(t, n.Binary, body)
	s := newService(n, nil)
	s.restartDelay = 150 * time.Millisecond
	s.stopTimeout = 400 * time.Millisecond
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func waitState(t *testing.T, s *service, timeout time.Duration, cond func(ServiceStatus) bool) ServiceStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("service state never reached; last %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServiceStartStopAndSystemctl(t *testing.T) {
	s := testService(t, "echo started $$\nexec sleep 60\n")
	out, _, code := systemctl(s, []string{"is-active", "neuwerk.service"})
	if out != "inactive\n" || code != 3 {
		t.Fatalf("is-active before start: %q %d", out, code)
	}
	if _, errOut, code := systemctl(s, []string{"start", "neuwerk.service"}); code != 0 {
		t.Fatalf("start: %d %q", code, errOut)
	}
	st := s.Status()
	if st.ActiveState != "active" || st.MainPID == 0 {
		t.Fatalf("after start: %+v", st)
	}
	// Start on a running unit is a no-op.
	if _, _, code := systemctl(s, []string{"start", "neuwerk"}); code != 0 || s.Status().MainPID != st.MainPID {
		t.Fatalf("second start changed the process")
	}
	out, _, code = systemctl(s, []string{"--no-pager", "is-active", "neuwerk.service"})
	if out != "active\n" || code != 0 {
		t.Fatalf("is-active: %q %d", out, code)
	}
	if out, _, code := systemctl(s, []string{"is-active", "-q", "neuwerk.service"}); out != "" || code != 0 {
		t.Fatalf("is-active -q: %q %d", out, code)
	}
	out, _, code = systemctl(s, []string{"status", "neuwerk.service", "--no-pager", "-n", "2"})
	if code != 0 || !strings.Contains(out, "Active: active (running)") || !strings.Contains(out, fmt.Sprintf("Main PID: %d", st.MainPID)) {
		t.Fatalf("status: %d\n%s", code, out)
	}
	out, _, _ = systemctl(s, []string{"show", "-p", "MainPID,ActiveState", "--value", "neuwerk.service"})
	if out != fmt.Sprintf("active\n%d\n", st.MainPID) {
		t.Fatalf("show: %q", out)
	}
	waitState(t, s, 2*time.Second, func(ServiceStatus) bool {
		b, _ := os.ReadFile(s.node.Log)
		return strings.Contains(string(b), "started ")
	})
	if _, _, code := systemctl(s, []string{"stop", "neuwerk.service"}); code != 0 {
		t.Fatal("stop failed")
	}
	st = s.Status()
	if st.ActiveState != "inactive" || st.MainPID != 0 || st.Result != "success" {
		t.Fatalf("after stop: %+v", st)
	}
	out, _, code = systemctl(s, []string{"status", "neuwerk.service"})
	if code != 3 || !strings.Contains(out, "Active: inactive (dead)") {
		t.Fatalf("status after stop: %d\n%s", code, out)
	}
	if _, errOut, code := systemctl(s, []string{"restart", "other.service"}); code != 5 || !strings.Contains(errOut, "Unit other.service not found.") {
		t.Fatalf("unknown unit: %d %q", code, errOut)
	}
	if _, errOut, code := systemctl(s, []string{"frobnicate"}); code != 1 || !strings.Contains(errOut, "Unknown command verb") {
		t.Fatalf("unknown verb: %d %q", code, errOut)
	}
	log, _ := os.ReadFile(s.node.Log)
	for _, want := range []string{"started ", "Started neuwerk.service", "Stopping neuwerk.service", "Deactivated successfully."} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestServiceRestartOnFailure(t *testing.T) {
	s := testService(t, "echo run; sleep 0.1; exit 3\n")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, s, 2*time.Second, func(st ServiceStatus) bool { return st.SubState == "auto-restart" })
	if st.ActiveState != "activating" || st.Result != "exit-code" || st.LastExit != "code=exited, status=3" {
		t.Fatalf("after the crash: %+v", st)
	}
	if out, _, code := systemctl(s, []string{"is-active", "neuwerk.service"}); out != "activating\n" || code != 3 {
		t.Fatalf("is-active during auto-restart: %q %d", out, code)
	}
	waitState(t, s, 3*time.Second, func(st ServiceStatus) bool { return st.NRestarts >= 2 })
	// Stop cancels the pending restart and leaves the unit failed, as systemd does.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	st = s.Status()
	n := st.NRestarts
	time.Sleep(400 * time.Millisecond)
	if st2 := s.Status(); st2.NRestarts != n || st2.MainPID != 0 {
		t.Fatalf("restarted after stop: %+v", st2)
	}
	// A clean exit is not restarted (Restart=on-failure).
	writeScript(t, s.node.Binary, "exit 0\n")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	st = waitState(t, s, 2*time.Second, func(st ServiceStatus) bool { return st.MainPID == 0 })
	time.Sleep(300 * time.Millisecond)
	if st = s.Status(); st.ActiveState != "inactive" || st.NRestarts != n {
		t.Fatalf("after a clean exit: %+v", st)
	}
}

func TestServiceStopTimeoutAndReplace(t *testing.T) {
	s := testService(t, "trap '' TERM\nwhile :; do sleep 0.05; done\n")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the trap be set
	start := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 350*time.Millisecond {
		t.Fatalf("stop returned after %v, before the stop timeout", took)
	}
	if st := s.Status(); st.ActiveState != "failed" || st.Result != "timeout" {
		t.Fatalf("after SIGKILL on timeout: %+v", st)
	}
	// Whatever file is at the binary path now is what starts.
	writeScript(t, s.node.Binary, "echo second-binary\nexec sleep 60\n")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, 2*time.Second, func(ServiceStatus) bool {
		b, _ := os.ReadFile(s.node.Log)
		return strings.Contains(string(b), "second-binary")
	})
	// A missing binary fails the start (status 203/EXEC) and is retried.
	_ = s.Stop()
	os.Remove(s.node.Binary)
	if err := s.Start(); err == nil {
		t.Fatal("start with no binary succeeded")
	}
	if st := s.Status(); st.SubState != "auto-restart" || st.LastExit != "code=exited, status=203/EXEC" {
		t.Fatalf("after a failed exec: %+v", st)
	}
}

func runSh(t *testing.T, script string, args ...string) (string, int) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p, args...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestSudoShim(t *testing.T) {
	cases := []struct {
		args []string
		out  string
		code int
	}{
		{[]string{"-n", "echo", "hi"}, "hi\n", 0},
		{[]string{"-n", "-E", "-u", "root", "echo", "a b"}, "a b\n", 0},
		{[]string{"-nE", "--", "echo", "-n", "x"}, "x", 0},
		{[]string{"--non-interactive", "--user=root", "FOO=bar", "sh", "-c", "echo $FOO"}, "bar\n", 0},
		{[]string{"sh", "-c", "exit 4"}, "", 4},
		{[]string{"-n"}, "usage: sudo [-n] [-E] [-u user] command [args...]\n", 1},
		{[]string{"-Z", "true"}, "sudo: option -Z is not supported by the nwroll simulator's sudo\n", 1},
	}
	for _, tc := range cases {
		out, code := runSh(t, sudoShim, tc.args...)
		if out != tc.out || code != tc.code {
			t.Errorf("sudo %q = %q exit %d, want %q exit %d", tc.args, out, code, tc.out, tc.code)
		}
	}
}

func TestJournalctlShim(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "it's a dir")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "neuwerk.log")
	var b strings.Builder
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	if err := os.WriteFile(log, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	script := journalctlShim(log)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-u", "neuwerk.service", "--no-pager", "-n", "2"}, "line 19\nline 20\n"},
		{[]string{"-u", "neuwerk", "-b", "--no-pager", "--lines=1"}, "line 20\n"},
		{[]string{"-n3", "--unit=neuwerk.service"}, "line 18\nline 19\nline 20\n"},
		{[]string{"-u", "neuwerk.service", "--no-pager"}, b.String()},
		{[]string{"-u", "ssh.service"}, "-- No entries --\n"},
	}
	for _, tc := range cases {
		if out, code := runSh(t, script, tc.args...); out != tc.want || code != 0 {
			t.Errorf("journalctl %q = %q exit %d", tc.args, out, code)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for _, s := range []string{"plain", "/tmp/with space/x", "it's", `a"b$c\d`, "", "-n"} {
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("shellQuote(%q) = %s -> %q %v", s, shellQuote(s), out, err)
		}
	}
}

func TestBlocksAreExclusive(t *testing.T) {
	a, err := acquireBlock(1)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := acquireBlock(1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.n == b.n {
		t.Fatalf("two holders of block %d", a.n)
	}
	if _, ok, err := tryLockBlock(a.n); ok || err != nil {
		t.Fatalf("block %d locked twice (%v)", a.n, err)
	}
	a.Close()
	l, ok, err := tryLockBlock(a.n)
	if !ok || err != nil {
		t.Fatalf("block %d not free after release: %v", a.n, err)
	}
	l.Close()
}
