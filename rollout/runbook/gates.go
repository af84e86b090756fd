package runbook

import (
	"fmt"
	"strings"
	"time"

	"github.com/nwroll/nwroll/health"
)

// restartGate is the gate after a node's start (design §3 step 6), held
// for the stabilisation window: /health and all of /ready, its stats row
// and its own raft_last_applied caught up with the leader's index sampled
// after the restart, the leader's peer errors for it steady, its binary
// the build it must run, its unit active and not crash-looping (read again
// every gateReread while the gate is open), and no abort signal against
// the pre-check's baseline. A node that led when it stopped first needs a new leader,
// elected in a later term, and a stable leadership. The node and whether
// it leads are read when the definition is made; the gate takes only the
// live values (the term before the stop, the time) when it opens.
func restartGate(c stepCtx, want BuildRef) gateOp {
	n, leads := c.ref(), c.leads()
	return gateOp{readBinary: true, gate: func(c stepCtx) health.Gate {
		o, s := c.opts(), c.step
		above := uint64(0)
		var checks []health.Check
		if leads {
			above = s.aboveTerm
			checks = append(checks,
				health.NewLeaderElected{Stopped: n, AboveTerm: above, Election: o.ElectionWindow},
				health.LeaderSteady{})
		}
		checks = append(checks,
			health.NodeReady{Node: n},
			health.NewStatsCaughtUp(n, above),
			health.NewApplied(n, above),
			health.PeerErrors{Node: n},
			health.BinaryIs{Node: n, Path: o.Binary, Want: want.SHA256, WantLabel: want.Label(), ReadSince: c.m.Now},
			health.ServiceUp{Node: n, Unit: o.Unit, ReadSince: c.m.Now},
			health.AbortSignals{Node: n, Baseline: baselineOf(c.m, n)},
		)
		return health.Gate{Name: "stabilise", Checks: checks, Hold: o.Window, Timeout: o.GateTimeout, Election: o.ElectionWindow}
	}}
}

// baselineOf is the node's /metrics at the pre-check, or nil.
func baselineOf(m *Machine, n health.NodeRef) *health.Metrics {
	if ns, ok := m.Baseline.NodeByID(n.ID); ok && m.HaveBaseline {
		return ns.Metrics
	}
	return nil
}

// ---- the machine's side of gates ----

// openGate opens g for the current step.
func (m *Machine) openGate(c stepCtx, g health.Gate, notBefore time.Time) {
	m.Gate = OpenGate{Gate: g.Open(m.Now, notBefore), Open: true, Step: c.step.ID, Node: c.nodeName()}
}

// sample is what gates judge: the snapshot, and the binaries and services
// read so far.
func (m *Machine) sample(snap health.ClusterSnapshot) health.Sample {
	s := health.Sample{Snap: snap, Binaries: map[string]health.Binary{}, Services: map[string]health.Service{}}
	for _, n := range m.Nodes {
		if !n.BinaryAt.IsZero() || n.Binary.Image != "" { // an instance's image is known from the group's description
			s.Binaries[n.Name] = health.Binary{SHA256: n.Binary.SHA256, Image: n.Binary.Image, At: n.BinaryAt}
		}
		if !n.Service.At.IsZero() {
			s.Services[n.Name] = n.Service
		}
	}
	return s
}

func (m *Machine) tickGate(c stepCtx) {
	if !m.Gate.Open || m.Gate.Step != c.step.ID {
		return
	}
	m.Gate.Gate = m.Gate.Gate.Tick(m.Now)
	m.afterGate(c, nil)
}

// afterGate acts on the gate's outcome: done when it passed, a failure (a
// refusal before the lock) when it did not.
func (m *Machine) afterGate(c stepCtx, onPass func()) {
	g := m.Gate
	switch g.Outcome() {
	case health.Passed:
		if onPass != nil {
			onPass()
		}
		detail := g.Name
		if g.Hold > 0 {
			detail = fmt.Sprintf("held for %s", g.Hold)
		}
		m.gatePassed(c, detail)
		c.step.done = true
	case health.TimedOut, health.NoLeader, health.Broken, health.Aborted:
		if c.step.def.Refuses {
			m.refuse(g.Name + " refused: " + strings.Join(g.Reasons(), "; "))
			return
		}
		kind := map[health.Outcome]FailureKind{health.TimedOut: FailTimeout, health.NoLeader: FailNoLeader, health.Broken: FailBroken, health.Aborted: FailAbort}[g.Outcome()]
		reason := g.Failure()
		if o, ok := c.step.def.Ops[c.step.pc].(gateOp); ok && o.explain != nil {
			if why := o.explain(c, g.Gate); why != "" {
				reason += "; " + why
			}
		}
		m.fail(kind, g.Name, reason)
	}
}

func (m *Machine) gatePassed(c stepCtx, detail string) {
	m.Gate.Open = false
	m.record(RecordEvent, c.step.ID, c.nodeName(), "gate-passed", detail, m.Gate.Values())
}

// gateReread is how often a gate that reads its node's files reads them
// again while it is open: often enough to see a crash loop (a unit that
// dies and is restarted every few seconds) long before the gate's timeout.
const gateReread = 2 * time.Second

// readGateFiles reads the node's binary and unit again for the gate.
func (m *Machine) readGateFiles(c stepCtx) {
	e := ReadNodeFiles{EffectMeta: m.meta(c.step.ID), Nodes: []string{c.nodeName()}}
	m.Gate.readID, m.Gate.readAt = e.ID, m.Now
	m.launch(e, purposeGateRead)
}

// gateReadDue: no read of the gate's node in flight, and none launched for
// gateReread.
func (m *Machine) gateReadDue() bool {
	return m.Gate.readID == 0 && (m.Gate.readAt.IsZero() || m.Now.Sub(m.Gate.readAt) >= gateReread)
}

func (m *Machine) onGateRead(e EffectResult) {
	if e.ID != m.Gate.readID {
		return
	}
	m.Gate.readID = 0
	if e.Err != nil {
		m.LastError = "read binary: " + e.Err.Error()
		return // read again when the next is due
	}
	files, _ := e.Data.([]NodeFiles)
	for _, f := range files {
		n := m.node(f.Node)
		if n == nil || f.Node != m.Gate.Node {
			continue
		}
		if NormSHA(f.SHA256) != "" {
			n.Binary, n.BinaryAt = m.identify(f.SHA256), e.At
		}
		n.Service = health.Service{Unit: f.Unit, At: e.At}
	}
}
