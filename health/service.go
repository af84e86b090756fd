package health

import (
	"fmt"
	"time"
)

// GateServiceUp is the service check's name.
const GateServiceUp = "service up"

// CrashLoopRestarts is how many automatic restarts since a gate's first
// reading of the unit mean a crash loop: an abort, not a wait.
const CrashLoopRestarts = 2

// Unit is a node's systemd unit as `systemctl show -p
// ActiveState,SubState,NRestarts` reports it.
type Unit struct {
	ActiveState string // active, activating, deactivating, reloading, inactive, failed
	SubState    string // running, auto-restart, dead, failed…
	NRestarts   int    // automatic restarts (Restart=on-failure) since the unit was started by hand
}

// State is "ActiveState/SubState", as the reasons print it.
func (u Unit) State() string { return u.ActiveState + "/" + u.SubState }

// Service is a node's unit as last read over SSH, and when.
type Service struct {
	Unit
	At time.Time
}

// ServiceUp: the node's unit, read over SSH since ReadSince, is active
// and not crash-looping. A unit that is failed or inactive, or that
// systemd restarted CrashLoopRestarts times since the gate's first reading
// of it, fails with Abort: no wait mends a service that is down or keeps
// dying, so the gate fails now instead of at its timeout. A unit systemd
// is about to restart (activating/auto-restart) with fewer restarts fails
// without Abort: the gate keeps waiting, its timeout still applies.
type ServiceUp struct {
	Node      NodeRef
	Unit      string // the unit's name, for the words: neuwerk.service
	ReadSince time.Time

	ref     bool // the gate's first reading is kept
	refRuns int  // its NRestarts
}

func (c ServiceUp) Name() string { return GateServiceUp }
func (c ServiceUp) Describe() string {
	return fmt.Sprintf("%s on %s active; failed, inactive or %d restarts end the gate at once", c.Unit, c.Node.Name, CrashLoopRestarts)
}
func (c ServiceUp) Judge(s Sample) (Check, Verdict) {
	b := newVerdict(GateServiceUp)
	sv, ok := s.Services[c.Node.Name]
	if !ok || sv.At.Before(c.ReadSince) {
		b.fail("%s: %s not read since the start yet", c.Node.Name, c.Unit)
		return c, b.done()
	}
	if !c.ref || sv.NRestarts < c.refRuns {
		// The first reading, or a counter that fell (a start by hand
		// resets it): a new reference.
		c.ref, c.refRuns = true, sv.NRestarts
	}
	restarts := sv.NRestarts - c.refRuns
	b.text("state", "%s", sv.State())
	b.set("restarts", Count(restarts))
	switch {
	case restarts >= CrashLoopRestarts:
		b.fail("%s: %s restarted %s since the start (%s): it is crash-looping", c.Node.Name, c.Unit, times(restarts), sv.State())
		b.v.Abort = true
	case sv.ActiveState == "failed" || sv.ActiveState == "inactive":
		b.fail("%s: %s is %s, restarted %s since the start: it is not running", c.Node.Name, c.Unit, sv.State(), times(restarts))
		b.v.Abort = true
	case sv.ActiveState != "active":
		b.fail("%s: %s is %s, restarted %s since the start", c.Node.Name, c.Unit, sv.State(), times(restarts))
	}
	return c, b.done()
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}
