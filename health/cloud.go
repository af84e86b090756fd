package health

import (
	"fmt"
	"strings"
)

// Checks of an image-first replacement (cloud mode): a new instance joins
// the Raft membership as a voter, the retired one leaves it, the voter
// count comes back, every instance runs the target image.

// Gate names of the cloud checks.
const (
	GateVoter      = "voter"
	GateMemberGone = "member gone"
	GateVoterCount = "voters"
	GateImageIs    = "image"
)

// Joining is a node check for a node whose id is not known when the gate
// opens (an instance just launched): it waits until the snapshot names the
// node's id (the poller matches the node's address to a member's), then
// judges with the check Make builds for it, keeping that check's memory.
type Joining struct {
	Node  NodeRef // the name; the id when known
	Make  func(NodeRef) Check
	inner Check
}

func (c Joining) Name() string     { return c.Make(c.Node).Name() }
func (c Joining) Describe() string { return c.Make(c.Node).Describe() }
func (c Joining) Judge(s Sample) (Check, Verdict) {
	if c.inner == nil {
		ref := c.Node
		if ref.ID == "" {
			if n, ok := s.Snap.Node(ref.Name); ok {
				ref.ID = n.NodeID
			}
		}
		if ref.ID == "" {
			return c, failed(c.Name(), c.Node.Name+": not a Raft member yet (no member has its address)")
		}
		c.inner = c.Make(ref)
	}
	next, v := c.inner.Judge(s)
	c.inner = next
	return c, v
}

// MemberVoter: the node is listed as a voter in /api/v1/cluster/members.
type MemberVoter struct{ Node NodeRef }

func (c MemberVoter) Name() string { return GateVoter }
func (c MemberVoter) Describe() string {
	return c.Node.Name + " listed as a voter in /api/v1/cluster/members"
}
func (c MemberVoter) Judge(s Sample) (Check, Verdict) {
	b := newVerdict(GateVoter)
	switch m, ok := s.Snap.Member(c.Node.ID); {
	case s.Snap.Members == nil:
		b.fail("/api/v1/cluster/members failed: %s", errOrMissing(s.Snap.MembersErr))
	case !ok:
		b.fail("%s: not a Raft member", c.Node.Name)
	case !m.IsVoter:
		b.fail("%s: a learner, not yet a voter", c.Node.Name)
	}
	return c, b.done()
}

// MemberGone: the node is no longer a Raft member.
type MemberGone struct{ Node NodeRef }

func (c MemberGone) Name() string { return GateMemberGone }
func (c MemberGone) Describe() string {
	return c.Node.Name + " (id " + c.Node.ID + ") absent from /api/v1/cluster/members"
}
func (c MemberGone) Judge(s Sample) (Check, Verdict) {
	b := newVerdict(GateMemberGone)
	switch m, ok := s.Snap.Member(c.Node.ID); {
	case s.Snap.Members == nil:
		b.fail("/api/v1/cluster/members failed: %s", errOrMissing(s.Snap.MembersErr))
	case ok:
		b.fail("%s is still a member (%s, cloud status %s)", c.Node.Name, m.Role, orUnknown(m.CloudStatus))
	}
	return c, b.done()
}

// VoterCount: exactly Want voters, every one of them polled healthy
// elsewhere in the gate.
type VoterCount struct{ Want int }

func (c VoterCount) Name() string { return GateVoterCount }
func (c VoterCount) Describe() string {
	return fmt.Sprintf("exactly %d voters in /api/v1/cluster/members (quorum %d, tolerates %d down)", c.Want, Quorum(c.Want), c.Want-Quorum(c.Want))
}
func (c VoterCount) Judge(s Sample) (Check, Verdict) {
	b := newVerdict(GateVoterCount)
	if s.Snap.Members == nil {
		b.fail("/api/v1/cluster/members failed: %s", errOrMissing(s.Snap.MembersErr))
		return c, b.done()
	}
	got := CountVoters(s.Snap.Members.Members)
	b.set("voters", Count(uint64(got)))
	if got != c.Want {
		b.fail("%d voters, want %d", got, c.Want)
	}
	return c, b.done()
}

// ImageIs: the node's instance runs the image Want, as the provider last
// described it (Sample.Binaries[name].Image).
type ImageIs struct {
	Node      NodeRef
	Want      string
	WantLabel string
}

func (c ImageIs) Name() string { return GateImageIs }
func (c ImageIs) Describe() string {
	return fmt.Sprintf("%s runs image %s (%s)", c.Node.Name, c.Want, c.WantLabel)
}
func (c ImageIs) Judge(s Sample) (Check, Verdict) {
	b := newVerdict(GateImageIs)
	got, ok := s.Binaries[c.Node.Name]
	switch {
	case !ok || got.Image == "":
		b.fail("%s: its image is not known yet", c.Node.Name)
	case got.Image != c.Want:
		b.fail("%s runs image %s, not %s (%s)", c.Node.Name, got.Image, c.Want, c.WantLabel)
	}
	return c, b.done()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// GateTolerance is the name of the failure-tolerance check.
const GateTolerance = "failure tolerance"

// Tolerance: enough voters are up that Min more could fail and the
// cluster would keep its quorum (a native rolling replacement must never
// take it lower). A voter is up when it is polled healthy and its stats
// row is caught up; a voter not polled is down.
type Tolerance struct{ Min int }

func (c Tolerance) Name() string { return GateTolerance }
func (c Tolerance) Describe() string {
	return fmt.Sprintf("voters up − quorum ≥ %d: the cluster could lose %d more voter(s) and keep its quorum", c.Min, c.Min)
}
func (c Tolerance) Judge(s Sample) (Check, Verdict) {
	b := newVerdict(GateTolerance)
	if s.Snap.Members == nil {
		b.fail("/api/v1/cluster/members failed: %s", errOrMissing(s.Snap.MembersErr))
		return c, b.done()
	}
	voters, up := 0, 0
	var down []string
	for _, m := range s.Snap.Members.Members {
		if !m.IsVoter {
			continue
		}
		voters++
		if why := voterDown(s.Snap, m.NodeID); why == "" {
			up++
		} else {
			down = append(down, why)
		}
	}
	tol := up - Quorum(voters)
	b.set("voters", Count(uint64(voters)))
	b.set("voters_up", Count(uint64(up)))
	b.set("tolerance", Text(fmt.Sprint(tol)))
	if tol < c.Min {
		b.fail("%d of %d voters up, quorum %d: tolerance %d, below %d (%s)", up, voters, Quorum(voters), tol, c.Min, strings.Join(down, "; "))
	}
	return c, b.done()
}
