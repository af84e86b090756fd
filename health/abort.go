package health

import (
	"fmt"
	"time"
)

// GateNoAbortSignals is the abort-signals check's name.
const GateNoAbortSignals = "no abort signals"

// NoAbortSignals judges a node's metrics against Neuwerk's abort
// conditions (facts §10), as they stand since ref, the first sample of the
// node's running process, and against baseline, its pre-check sample (nil
// when there is none, as on a resume before the pre-check). A counter that
// grew marks the verdict Abort: no wait mends it, so the gate fails at
// once.
//   - svc_fail_closed_total grew since ref (TLS intercept failing closed);
//   - dhcp_lease_active is 0 where the baseline had a lease (or had none
//     recorded);
//   - http_auth_total{outcome="deny"} grew since ref on a node whose
//     baseline had no denies at all (denies where there were none before);
//   - raft_last_applied trails raft_last_log_index by more than MaxApplyLag.
func NoAbortSignals(nodeName string, baseline, ref, now *Metrics) Verdict {
	b := newVerdict(GateNoAbortSignals)
	if now == nil {
		b.fail("%s: no /metrics sample", nodeName)
		return b.done()
	}
	if ref == nil {
		ref = now
	}
	fc0, fc := ref.FailClosedTotal(), now.FailClosedTotal()
	b.set("fail_closed", Number(fc))
	if baseline != nil {
		b.set("fail_closed_at_precheck", Number(baseline.FailClosedTotal()))
	}
	if fc > fc0 {
		b.fail("%s: svc_fail_closed_total grew %g→%g (TLS intercept failing closed)", nodeName, fc0, fc)
		b.v.Abort = true
	}
	if now.Has(MetricDHCPLeaseActive) && !now.DHCPLeaseActive && (baseline == nil || baseline.DHCPLeaseActive) {
		b.fail("%s: dhcp_lease_active is 0 (no dataplane DHCP lease)", nodeName)
	}
	d0, d := ref.AuthDenies(), now.AuthDenies()
	b.set("auth_denies_since_start", Number(d-d0))
	if d > d0 && baseline != nil && baseline.AuthDenies() == 0 {
		b.fail("%s: http_auth_total{outcome=\"deny\"} grew %g→%g where the pre-check saw none", nodeName, d0, d)
		b.v.Abort = true
	}
	if now.LastLogIndex > now.LastApplied && now.LastLogIndex-now.LastApplied > MaxApplyLag {
		b.fail("%s: raft_last_applied %d trails raft_last_log_index %d by more than %d", nodeName, now.LastApplied, now.LastLogIndex, MaxApplyLag)
	}
	return b.done()
}

// AbortSignals is NoAbortSignals as a gate's check. It remembers the first
// sample of the node's process (a counter that falls means a restart: a
// new process, a new reference).
type AbortSignals struct {
	Node     NodeRef
	Baseline *Metrics // the node's /metrics at the pre-check; nil when none

	ref   *Metrics
	refAt time.Time
}

func (c AbortSignals) Name() string { return GateNoAbortSignals }
func (c AbortSignals) Describe() string {
	return fmt.Sprintf("no abort signal on %s against the pre-check: svc_fail_closed_total not growing, a DHCP lease, no new auth denies, raft_last_applied within %d of raft_last_log_index",
		c.Node.Name, MaxApplyLag)
}
func (c AbortSignals) Judge(s Sample) (Check, Verdict) {
	n, ok := s.Snap.NodeByID(c.Node.ID)
	if !ok || n.Metrics == nil {
		c.ref = nil
		return c, failed(GateNoAbortSignals, c.Node.Name+": no /metrics sample")
	}
	now := n.Metrics
	if c.ref == nil || now.FailClosedTotal() < c.ref.FailClosedTotal() || now.AuthDenies() < c.ref.AuthDenies() {
		c.ref, c.refAt = now, s.Snap.TakenAt
	}
	return c, NoAbortSignals(c.Node.Name, c.Baseline, c.ref, now)
}
