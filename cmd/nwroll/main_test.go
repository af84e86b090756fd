package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/sim"
)

func TestMain(m *testing.M) {
	sim.Dispatch()
	os.Exit(m.Run())
}

// captureRun runs the CLI in-process and returns its exit code and stderr.
func captureRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	oldOut, oldErr := os.Stdout, os.Stderr
	outR, outW, _ := os.Pipe()
	errR, errW, _ := os.Pipe()
	os.Stdout, os.Stderr = outW, errW
	code := run(args)
	outW.Close()
	errW.Close()
	os.Stdout, os.Stderr = oldOut, oldErr
	out, _ := io.ReadAll(outR)
	errOut, _ := io.ReadAll(errR)
	return code, string(out), string(errOut)
}

func TestConsoleCommandsNeedATerminal(t *testing.T) {
	for _, args := range [][]string{{"demo"}, {"console", "-i", "x.yaml", "--release", "r"}, {"-i", "x.yaml", "--release", "r"}} {
		code, _, stderr := captureRun(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
		if !strings.Contains(stderr, "needs an interactive terminal") || !strings.Contains(stderr, "nwroll upgrade --yes") {
			t.Errorf("%v: stderr %q should say a terminal is needed and name the headless command", args, stderr)
		}
	}
}

func TestViewRefusesBadArchives(t *testing.T) {
	dir := t.TempDir()
	notGzip := dir + "/notes.tar.gz"
	if err := os.WriteFile(notGzip, []byte("just text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"view"}, "takes one sysdump file"},
		{[]string{"view", dir + "/missing.tar.gz"}, "missing.tar.gz"},
		{[]string{"view", notGzip}, "not a readable sysdump"},
	} {
		code, _, stderr := captureRun(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line containing %q", c.args, code, stderr, c.want)
		}
	}
}

func TestDemoHelpTeaches(t *testing.T) {
	code, stdout, _ := captureRun(t, "demo", "--help")
	if code != 0 || !strings.Contains(stdout, "3 to 25") || !strings.Contains(stdout, "--keep") {
		t.Fatalf("demo --help: exit %d\n%s", code, stdout)
	}
}

func TestUnknownFlagIsUsageError(t *testing.T) {
	code, _, stderr := captureRun(t, "sim", "status", "--no-such-flag")
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, "--no-such-flag") || strings.Contains(stderr, "goroutine") {
		t.Fatalf("stderr %q should name the flag and carry no stack", stderr)
	}
}

func TestVersionShowsInjectedValues(t *testing.T) {
	version, commit, date = "1.2.3", "abc1234", "2026-11-23"
	defer func() { version, commit, date = "dev", "none", "unknown" }()
	code, stdout, _ := captureRun(t, "--version")
	if code != 0 || !strings.Contains(stdout, "1.2.3") || !strings.Contains(stdout, "abc1234") || !strings.Contains(stdout, "2026-11-23") {
		t.Fatalf("exit %d, version output %q", code, stdout)
	}
}

func TestHelpListsSimCommands(t *testing.T) {
	code, stdout, _ := captureRun(t, "sim", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, sub := range []string{"up", "status", "down", "stop", "start", "kill"} {
		if !strings.Contains(stdout, "  "+sub) {
			t.Errorf("sim --help does not list %q:\n%s", sub, stdout)
		}
	}
}

// The engine-side packages must never pull in a UI library (design §2).
func TestEnginePackagesImportNoUI(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/nwroll/nwroll/health/...", "github.com/nwroll/nwroll/sim/...", "github.com/nwroll/nwroll/rollout/...", "github.com/nwroll/nwroll/cloud/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("github.com/nwroll/nwroll/rollout\n")) || !bytes.Contains(out, []byte("github.com/nwroll/nwroll/health\n")) {
		t.Fatalf("go list did not list the engine packages:\n%s", out)
	}
	for _, line := range bytes.Split(out, []byte("\n")) {
		p := string(line)
		if strings.HasPrefix(p, "charm.land/") || strings.HasPrefix(p, "github.com/charmbracelet/") || strings.HasPrefix(p, "github.com/nwroll/nwroll/tui") {
			t.Errorf("engine-side package depends on UI package %s", p)
		}
	}
}
