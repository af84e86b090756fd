package executor

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nwroll/nwroll/health"
	"github.com/nwroll/nwroll/rollout/inventory"
)

// The read-files script, run by sh with a systemctl on PATH that answers
// as systemd does (its own order of properties), reports the unit's state
// and restart count next to the files and is-active.
func TestReadFilesScriptReportsTheUnit(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "neuwerk")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	shim := filepath.Join(dir, "systemctl")
	script := "#!/bin/sh\n" +
		"case \"$1\" in\n" +
		"show) [ \"$2 $3 $4\" = \"-p ActiveState,SubState,NRestarts neuwerk.service\" ] || { echo \"bad args: $*\" >&2; exit 1; }\n" +
		"  printf 'NRestarts=3\\nActiveState=activating\\nSubState=auto-restart\\n' ;;\n" +
		"is-active) exit 3 ;;\n" +
		"esac\n"
	if err := os.WriteFile(shim, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func() ([]byte, error) {
		cmd := exec.Command("/bin/sh", "-c", readFilesScript, "sh", bin, "neuwerk.service", "systemctl", "is-active", "neuwerk.service")
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		return cmd.CombinedOutput()
	}
	out, err := run()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	f, err := parseReadFiles("fw-b", string(out))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, out)
	}
	want := health.Unit{ActiveState: "activating", SubState: "auto-restart", NRestarts: 3}
	if f.Unit != want || f.Active || f.SHA256 == "" || f.NewPresent || f.PrevPresent {
		t.Errorf("read %+v, want unit %+v, inactive, the binary only", f, want)
	}

	// systemctl show failing fails the script, naming it.
	if err := os.WriteFile(shim, []byte("#!/bin/sh\necho 'Failed to connect to bus' >&2; exit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = run()
	if err == nil || !strings.Contains(string(out), "nwroll: systemctl show neuwerk.service: Failed to connect to bus") {
		t.Errorf("a failing systemctl show: %v\n%s", err, out)
	}
}

func TestParseReadFilesUnit(t *testing.T) {
	files := "nwroll-sums: .bin\n" + strings.Repeat("ab", 32) + "  /opt/neuwerk/bin/neuwerk\nnwroll-sums-end\nnwroll-active: 0\n"
	for _, tc := range []struct {
		unit, err string
		want      health.Unit
	}{
		{unit: "ActiveState=active\nSubState=running\nNRestarts=0\n", want: health.Unit{ActiveState: "active", SubState: "running"}},
		{unit: "SubState=failed\nActiveState=failed\nNRestarts=5\n", want: health.Unit{ActiveState: "failed", SubState: "failed", NRestarts: 5}},
		{unit: "ActiveState=active\nSubState=running\n", err: "no NRestarts reported"},
		{unit: "ActiveState=active\nSubState=running\nNRestarts=x\n", err: `bad NRestarts "x"`},
		{unit: "ActiveState=active\nSubState=running\nNRestarts=-1\n", err: `bad NRestarts "-1"`},
		{unit: "ActiveState=active\nActiveState=failed\nSubState=running\nNRestarts=0\n", err: `bad systemctl show line "ActiveState=failed"`},
		{unit: "ActiveState=active\nSubState=running\nNRestarts=0\nResult=success\n", err: "4 properties reported"},
		{unit: "\n", err: `bad systemctl show line ""`},
		{unit: "", err: "no ActiveState reported"},
	} {
		var b strings.Builder
		b.WriteString(files)
		for _, l := range strings.Split(strings.TrimSuffix(tc.unit, "\n"), "\n") {
			if tc.unit != "" {
				b.WriteString("nwroll-unit: " + l + "\n")
			}
		}
		f, err := parseReadFiles("fw-b", b.String())
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.unit, err)
		case tc.err == "" && f.Unit != tc.want:
			t.Errorf("%q: unit %+v, want %+v", tc.unit, f.Unit, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "fw-b")):
			t.Errorf("%q: error %v, want one naming fw-b and %q", tc.unit, err, tc.err)
		}
	}
}

// One sha256sum reads every file present, and each sum lands on its own
// file, also when the path has a space or a backslash (which sha256sum
// escapes) and when a file in the middle is absent.
func TestReadFilesScriptSumsEachFile(t *testing.T) {
	shim := "#!/bin/sh\ncase \"$1\" in show) printf 'ActiveState=active\\nSubState=running\\nNRestarts=0\\n' ;; esac\n"
	for _, dirName := range []string{"plain", "with space", `back\slash`} {
		dir := filepath.Join(t.TempDir(), dirName)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, "neuwerk")
		write := func(p, s string) {
			if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		write(bin, "current")
		write(bin+".prev", "previous")
		shimDir := t.TempDir()
		write(filepath.Join(shimDir, "systemctl"), shim)
		cmd := exec.Command("/bin/sh", "-c", readFilesScript, "sh", bin, "neuwerk.service", "true")
		cmd.Env = append(os.Environ(), "PATH="+shimDir+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", dirName, err, out)
		}
		f, err := parseReadFiles("fw-b", string(out))
		if err != nil {
			t.Fatalf("%s: %v\n%s", dirName, err, out)
		}
		if f.SHA256 != shaOf("current") || f.NewPresent || f.NewSHA256 != "" || !f.PrevPresent || f.PrevSHA256 != shaOf("previous") || !f.Active {
			t.Errorf("%s: read %+v\n%s", dirName, f, out)
		}
	}
}

// A directory named like a file is not a file: .new reads as absent.
func TestReadFilesScriptSkipsADirectory(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "neuwerk")
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(bin+".new", 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", readFilesScript, "sh", bin, "neuwerk.service", "true")
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte("#!/bin/sh\nprintf 'ActiveState=active\\nSubState=running\\nNRestarts=0\\n'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	f, err := parseReadFiles("fw-b", string(out))
	if err != nil || f.NewPresent {
		t.Fatalf("a directory named .new: %+v %v\n%s", f, err, out)
	}
}

func shaOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// With systemd's own is-active (no command passed), the unit's
// ActiveState says whether it is active, as systemctl is-active would.
func TestReadFilesActiveFromTheUnit(t *testing.T) {
	for state, want := range map[string]bool{"active": true, "reloading": true, "activating": false, "failed": false, "inactive": false} {
		dir := t.TempDir()
		bin := filepath.Join(dir, "neuwerk")
		if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
		shim := "#!/bin/sh\n[ \"$1\" = show ] || { echo \"unexpected systemctl $*\" >&2; exit 9; }\nprintf 'ActiveState=" + state + "\\nSubState=x\\nNRestarts=0\\n'\n"
		if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(shim), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/bin/sh", "-c", readFilesScript, "sh", bin, "neuwerk.service")
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", state, err, out)
		}
		f, err := parseReadFiles("fw-b", string(out))
		if err != nil || f.Active != want {
			t.Errorf("ActiveState=%s: active %v (%v), want %v\n%s", state, f.Active, err, want, out)
		}
	}
}

func TestIsActiveArgs(t *testing.T) {
	x := &Executor{inv: &inventory.Inventory{}}
	x.inv.Service.Unit = "neuwerk.service"
	x.inv.Service.IsActive = []string{"systemctl", "is-active", "neuwerk.service"}
	if got := x.isActiveArgs(); got != nil {
		t.Errorf("systemd's own is-active: %v, want none (read from ActiveState)", got)
	}
	x.inv.Service.IsActive = []string{"/usr/local/bin/fw-alive"}
	if got := x.isActiveArgs(); len(got) != 1 || got[0] != "/usr/local/bin/fw-alive" {
		t.Errorf("a custom is-active: %v, want it run", got)
	}
}
