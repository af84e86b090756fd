package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/sim"
)

func TestSimUsageErrors(t *testing.T) {
	empty := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"sim", "up"}, "needs --dir DIR"},
		{[]string{"sim", "status"}, "needs --dir DIR"},
		{[]string{"sim", "down"}, "needs --dir DIR"},
		{[]string{"sim", "up", "--dir", empty, "--nodes", "26"}, "1 to 25 nodes"},
		{[]string{"sim", "up", "--dir", empty, "--release", "2.0"}, "1.1.1-crashloop"},
		{[]string{"sim", "up", "--dir", empty, "--ssh", "rsh"}, "openssh"},
		{[]string{"sim", "up", "--dir", empty, "stray"}, "takes no arguments"},
		{[]string{"sim", "kill", "--dir", empty}, "needs one NODE"},
		{[]string{"sim", "status", "--dir", empty}, "no simulated cluster"},
		{[]string{"sim", "stop", "--dir", empty, "fw-a"}, "no simulated cluster"},
	}
	for _, tc := range cases {
		code, _, stderr := captureRun(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("nwroll %s: exit %d, stderr %q; want exit 2 and one line with %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
}

func TestSimHelpHasExamples(t *testing.T) {
	for _, sub := range []string{"up", "status", "down", "stop", "start", "kill"} {
		code, out, _ := captureRun(t, "sim", sub, "--help")
		if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "nwroll sim "+sub+" --dir") {
			t.Errorf("sim %s --help: exit %d\n%s", sub, code, out)
		}
	}
}

// The CLI round trip on a one-node cluster: up, status, kill, stop, start, down.
func TestSimCommandsEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nw")
	t.Cleanup(func() {
		if c, err := sim.Open(dir); err == nil {
			_ = c.Down()
		}
	})
	code, out, stderr := captureRun(t, "sim", "up", "--dir", dir, "--nodes", "1", "--warmup", "500ms")
	if code != 0 || !strings.Contains(out, "is up in "+dir) || !strings.Contains(out, "curl --cacert "+dir+"/ca/ca.crt https://127.0.") {
		t.Fatalf("sim up: exit %d\n%s\n%s", code, out, stderr)
	}
	code, _, stderr = captureRun(t, "sim", "up", "--dir", dir, "--nodes", "1")
	if code == 0 || !strings.Contains(stderr, "nwroll sim down --dir") {
		t.Fatalf("second sim up: exit %d %q", code, stderr)
	}
	code, out, _ = captureRun(t, "sim", "status", "--dir", dir)
	if code != 0 || !strings.Contains(out, "leader fw-a") || !strings.Contains(out, "fw-a") || !strings.Contains(out, "active") || !strings.Contains(out, "1.0.0") {
		t.Fatalf("sim status: exit %d\n%s", code, out)
	}
	if code, out, _ = captureRun(t, "sim", "kill", "--dir", dir, "fw-a"); code != 0 || !strings.Contains(out, "SIGKILL sent to pid") {
		t.Fatalf("sim kill: exit %d %q", code, out)
	}
	if code, out, _ = captureRun(t, "sim", "stop", "--dir", dir, "fw-a"); code != 0 || !strings.Contains(out, "stopped") {
		t.Fatalf("sim stop: exit %d %q", code, out)
	}
	// Stopped during the auto-restart after the kill, the unit stays "failed",
	// as systemd's would; stopped after the restart, it is "inactive".
	code, out, _ = captureRun(t, "sim", "status", "--dir", dir)
	if code != 0 || !(strings.Contains(out, " failed ") || strings.Contains(out, " inactive ")) || !strings.Contains(out, "connection refused") {
		t.Fatalf("sim status with the node stopped: exit %d\n%s", code, out)
	}
	if code, out, _ = captureRun(t, "sim", "start", "--dir", dir, "fw-a"); code != 0 || !strings.Contains(out, "started") {
		t.Fatalf("sim start: exit %d %q", code, out)
	}
	if code, out, _ = captureRun(t, "sim", "down", "--dir", dir); code != 0 || !strings.Contains(out, "is down: none of its") {
		t.Fatalf("sim down: exit %d %q", code, out)
	}
	code, out, stderr = captureRun(t, "sim", "status", "--dir", dir)
	if code != 1 || !strings.Contains(stderr, "not running") || !strings.Contains(out, "down") {
		t.Fatalf("sim status after down: exit %d\n%s\n%s", code, out, stderr)
	}
}
