package sim

import (
	"slices"
	"syscall"
	"testing"
)

func TestParseSystemctl(t *testing.T) {
	c := parseSystemctl([]string{"--no-pager", "-q", "show", "-p", "A,B", "--property=C", "-pD", "--value",
		"-n", "5", "--signal=KILL", "neuwerk", "neuwerk.service"})
	if c.verb != "show" || !slices.Equal(c.units, []string{"neuwerk", "neuwerk.service"}) {
		t.Errorf("verb %q units %q, want show [neuwerk neuwerk.service]", c.verb, c.units)
	}
	if !c.quiet || !c.valueOnly || c.lines != 5 || c.killSig != syscall.SIGKILL {
		t.Errorf("quiet %v value %v lines %d signal %v, want true true 5 SIGKILL", c.quiet, c.valueOnly, c.lines, c.killSig)
	}
	if !slices.Equal(c.props, []string{"A", "B", "C", "D"}) {
		t.Errorf("props %q, want [A B C D]", c.props)
	}
	if d := parseSystemctl(nil); d.verb != "" || d.lines != 10 || d.killSig != syscall.SIGTERM {
		t.Errorf("defaults: verb %q lines %d signal %v, want none, 10, SIGTERM", d.verb, d.lines, d.killSig)
	}
}
