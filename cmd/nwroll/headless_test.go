package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Usage errors of the headless commands: exit 2, one line naming the fix,
// no stack, before anything connects.
func TestHeadlessUsageErrors(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yaml")
	if err := os.WriteFile(inv, []byte("cluster: lab\nnodes:\n  - name: fw-a\n    host: 10.0.0.1\n    bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"status"}, "-i INVENTORY"},
		{[]string{"upgrade", "-i", inv, "--release", dir}, "use the console: nwroll console"},
		{[]string{"rollback", "-i", inv}, "without --yes opens the console to roll back step by step, which needs an interactive terminal; in scripts and CI pass --yes"},
		{[]string{"resume", "-i", inv}, "without --yes opens the console to resume step by step, which needs an interactive terminal; in scripts and CI pass --yes"},
		{[]string{"rollback", "-i", inv, "--out-of-order", "--yes"}, "--out-of-order needs --node NAME"},
		{[]string{"upgrade", "-i", inv, "--release", dir, "--yes", "--backup", "sometimes"}, "--backup"},
		{[]string{"upgrade", "-i", inv, "--release", dir, "--yes", "--backup", "live", "--backup-reuse", "x"}, "exclude"},
		{[]string{"plan", "-i", inv, "--release", dir}, "bogus"},
		{[]string{"plan", "-i", filepath.Join(dir, "missing.yaml"), "--release", dir}, "does not exist"},
		{[]string{"status", "-i", inv, "extra"}, "takes no arguments"},
	}
	for _, c := range cases {
		code, _, stderr := captureRun(t, c.args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, exitUsage, stderr)
		}
		if !strings.Contains(stderr, c.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: stderr %q should name %q, without a stack", c.args, stderr, c.want)
		}
	}
}

func TestHeadlessCommandsAreBuilt(t *testing.T) {
	for _, name := range []string{"status", "plan", "upgrade", "rollback", "resume", "sysdump"} {
		code, stdout, _ := captureRun(t, name, "--help")
		if code != 0 || strings.Contains(stdout, "not built yet") || !strings.Contains(stdout, "-i, --inventory") {
			t.Errorf("%s --help: exit %d:\n%s", name, code, stdout)
		}
	}
}
