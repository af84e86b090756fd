package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/nwroll/nwroll/rollout"
	"github.com/nwroll/nwroll/rollout/runbook"
)

// Every flag's help names a placeholder in capitals (FILE, DIR, REL, ID,
// NAME, DURATION…), never cobra's type names or words from backticks.
func TestFlagHelpShowsPlaceholders(t *testing.T) {
	want := map[string]map[string]string{
		"status":   {"inventory": "FILE", "releases": "DIR"},
		"plan":     {"release": "REL", "backup": "MODE", "backup-reuse": "ID", "bake": "DURATION"},
		"sysdump":  {"output": "FILE"},
		"resume":   {"run": "ID", "release": "REL"},
		"rollback": {"run": "ID", "node": "NAME"},
		"demo":     {"dir": "DIR", "nodes": "N", "release": "VERSION"},
		"view":     {"baseline": "FILE"},
	}
	code, out, _ := captureRun(t, "status", "--help")
	if code != 0 || !strings.Contains(out, "-i, --inventory FILE ") {
		t.Errorf("status --help: exit %d, want a line with \"-i, --inventory FILE\":\n%s", code, out)
	}
	for cmdName, flags := range want {
		_, out, _ := captureRun(t, cmdName, "--help")
		for flag, ph := range flags {
			if !regexp.MustCompile(`--` + regexp.QuoteMeta(flag) + ` ` + ph + `\s`).MatchString(out) {
				t.Errorf("%s --help: --%s should read \"--%s %s\":\n%s", cmdName, flag, flag, ph, out)
			}
		}
	}
	// No command's flag may show a type name or a lower-case word.
	flagLine := regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([\w-]+) (\S+)  `)
	placeholder := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		args := append(strings.Fields(strings.TrimPrefix(c.CommandPath(), "nwroll")), "--help")
		_, out, _ := captureRun(t, args...)
		for _, m := range flagLine.FindAllStringSubmatch(out, -1) {
			if !placeholder.MatchString(m[2]) {
				t.Errorf("%s --%s shows %q in its help; give its usage a `PLACEHOLDER`", c.CommandPath(), m[1], m[2])
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd())
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	for _, c := range []struct{ arg, want string }{
		{"frobnicate", `unknown command "frobnicate"`},
		{"stauts", "did you mean status?"},
	} {
		code, _, stderr := captureRun(t, c.arg)
		if code != exitUsage {
			t.Errorf("nwroll %s: exit %d, want %d", c.arg, code, exitUsage)
		}
		if !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "nwroll --help") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("nwroll %s: stderr %q; want one line with %q and the way to the list of commands", c.arg, stderr, c.want)
		}
	}
}

func TestViewMissingFileSaysWhatViewExpects(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"view", filepath.Join(dir, "missing.tar.gz")}, filepath.Join(dir, "missing.tar.gz") + " does not exist; view expects a sysdump .tar.gz"},
		{[]string{"view", dir}, dir + " is a directory; view expects a sysdump .tar.gz"},
	} {
		code, _, stderr := captureRun(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || strings.Contains(stderr, "stat ") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line containing %q", c.args, code, stderr, c.want)
		}
	}
}

func TestVersionFromBuildInfo(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	cases := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"go install @version", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0 (commit none, built unknown)"},
		{"go build in a checkout", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261203162000-0123456789ab+dirty"},
			Settings: settings("vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-12-03T16:20:00Z", "vcs.modified", "true")},
			"v0.0.0-20261203162000-0123456789ab+dirty (commit 0123456789ab, modified, built 2026-12-03T16:20:00Z)"},
		{"devel, clean tree", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "fedcba9876543210", "vcs.modified", "false")},
			"dev (commit fedcba987654, built unknown)"},
		{"no build info", nil, "dev (commit none, built unknown)"},
	}
	for _, c := range cases {
		if got := versionString(c.bi); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// The release build's ldflags win over the toolchain's stamp.
	version, commit, date = "1.2.3", "abc1234", "2026-11-23"
	defer func() { version, commit, date = "dev", "none", "unknown" }()
	if got := versionString(cases[1].bi); got != "1.2.3 (commit abc1234, built 2026-11-23)" {
		t.Errorf("with ldflags: %q", got)
	}
}

// status exits 0 on a healthy cluster and 3 when not, naming why.
func TestStatusExit(t *testing.T) {
	if err := statusExit(rollout.StatusReport{Healthy: true}, false); err != nil {
		t.Errorf("healthy: %v, want nil (exit 0)", err)
	}
	bad := rollout.StatusReport{Problems: []string{"no leader", "fw-b not ready: raft"}}
	for _, jsonOut := range []bool{false, true} {
		err := statusExit(bad, jsonOut)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != runbook.ExitRefused || ee.quiet == jsonOut ||
			ee.Error() != "the cluster is not healthy: no leader; fw-b not ready: raft" {
			t.Errorf("json %v: %#v, want exit 3 naming the problems (quiet only for the table, whose last line says it)", jsonOut, ee)
		}
	}
	code, out, _ := captureRun(t, "status", "--help")
	if code != 0 || !strings.Contains(out, "Exit codes: 0 the cluster is healthy") || !strings.Contains(out, "3 it is not") {
		t.Errorf("status --help should document its exit codes:\n%s", out)
	}
}

type fakeCluster struct {
	downs int
	err   error
}

func (f *fakeCluster) Down() error { f.downs++; return f.err }

// The demo says when its cluster is down and removes only a folder it made.
func TestDemoTeardown(t *testing.T) {
	cases := []struct {
		name           string
		created, keep  bool
		downErr        error
		wantDowns      int
		wantDirRemains bool
		want           string
	}{
		{"temp dir", true, false, nil, 1, false, "the simulated cluster is down and its folder %s is removed"},
		{"--dir", false, false, nil, 1, true, "the simulated cluster is down; its files stay in %s"},
		{"--keep", true, true, nil, 0, true, "the cluster keeps running in %s; stop it with: nwroll sim down --dir %s"},
		{"down failed", true, false, errors.New("fw-b did not stop"), 1, true, "sim down: fw-b did not stop (try: nwroll sim down --dir %s)"},
	}
	for _, c := range cases {
		dir := filepath.Join(t.TempDir(), "nwroll-demo-x")
		if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		f := &fakeCluster{err: c.downErr}
		demoTeardown(&out, f, dir, c.created, c.keep)
		_, err := os.Stat(dir)
		want := strings.ReplaceAll(c.want, "%s", dir)
		if f.downs != c.wantDowns || (err == nil) != c.wantDirRemains || !strings.Contains(out.String(), want) {
			t.Errorf("%s: %d downs (want %d), dir remains %v (want %v), output %q (want %q)", c.name, f.downs, c.wantDowns, err == nil, c.wantDirRemains, out.String(), want)
		}
	}
}
