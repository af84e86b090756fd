package main

import (
	"strings"
	"testing"
)

// --allow-unknown-build is upgrade's alone (the console asks instead), and
// resume's help says how a build that matches no release is treated.
func TestUnknownBuildFlagAndHelp(t *testing.T) {
	_, upgrade, _ := captureRun(t, "upgrade", "--help")
	for _, want := range []string{"--allow-unknown-build", "matches no release manifest", "--releases"} {
		if !strings.Contains(upgrade, want) {
			t.Errorf("upgrade --help lacks %q:\n%s", want, upgrade)
		}
	}
	for _, name := range []string{"console", "demo", "plan"} {
		if _, out, _ := captureRun(t, name, "--help"); strings.Contains(out, "--allow-unknown-build") {
			t.Errorf("%s --help offers --allow-unknown-build; only upgrade --yes takes it", name)
		}
	}
	_, resume, _ := captureRun(t, "resume", "--help")
	resume = strings.Join(strings.Fields(resume), " ")
	for _, want := range []string{
		"A node on a binary that matches no known release is refused, unless the run recorded that build at its start",
		"Such a build is approved once per run: a run that accepted it goes on",
		"started with --allow-unknown-build",
	} {
		if !strings.Contains(resume, want) {
			t.Errorf("resume --help lacks %q:\n%s", want, resume)
		}
	}
}
