package executor

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The unstage script, run by the real /bin/sh as a node would: it removes
// <binary>.new only when it holds the staged target.
func TestUnstageScript(t *testing.T) {
	target, other := []byte("neuwerk 1.1.0"), []byte("someone else's build")
	run := func(t *testing.T, bin string, want string) (string, int) {
		t.Helper()
		out, err := exec.Command("/bin/sh", "-c", unstageScript, "sh", bin, want).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	for _, tc := range []struct {
		name   string
		staged []byte // nil: no .new
		code   int
		left   bool // .new still there afterwards
		says   string
	}{
		{"the target is removed", target, 0, false, "nwroll-unstage: removed "},
		{"another file stays", other, 65, true, "not the staged target"},
		{"gone already is done", nil, 0, false, "is gone already"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "neuwerk")
			if err := os.WriteFile(bin, []byte("neuwerk 1.0.0"), 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.staged != nil {
				if err := os.WriteFile(bin+".new", tc.staged, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			out, code := run(t, bin, bkTestSHA(target))
			if code != tc.code || !strings.Contains(out, tc.says) {
				t.Fatalf("exit %d, output %q; want exit %d saying %q", code, out, tc.code, tc.says)
			}
			if _, err := os.Stat(bin + ".new"); (err == nil) != tc.left {
				t.Fatalf(".new left %v (%v), want %v", err == nil, err, tc.left)
			}
			if b, err := os.ReadFile(bin); err != nil || string(b) != "neuwerk 1.0.0" {
				t.Fatalf("the binary in place changed: %q %v", b, err)
			}
		})
	}
}
