package fakeaws

import (
	"fmt"
	"time"

	"github.com/nwroll/nwroll/cloud/fakecloud"
)

// FaultKind names a rehearsable failure.
type FaultKind string

// Fault kinds.
const (
	// FaultAPIError: the next call of Action (default SetDesiredCapacity)
	// answers with the API error Code/Message (default
	// ScalingActivityInProgress, which the SDK does not retry).
	FaultAPIError FaultKind = "api-error"
	// FaultInsufficientCapacity: the next launch fails as EC2 does when a
	// zone has no capacity: no instance is made and the scaling activity
	// fails with InsufficientInstanceCapacity.
	FaultInsufficientCapacity FaultKind = "insufficient-capacity"
	// FaultHangTermination: instance InstanceID ("": the next instance to
	// be held) stays in Terminating:Wait: CompleteLifecycleAction is
	// accepted and ignored and the hook never times out. Once the fault
	// is cleared (ClearFaults) the hold ends as usual: by the next
	// CompleteLifecycleAction, or the heartbeat timeout.
	FaultHangTermination FaultKind = "hang-termination"
	// FaultLaunchUnderneath: the group launches an instance by itself now
	// (as a scheduled action would: desired capacity +1).
	FaultLaunchUnderneath FaultKind = "launch-underneath"
	// FaultTerminateUnderneath: the group terminates InstanceID ("": its
	// newest in-service instance) by itself now, as a health check
	// replacement would; desired capacity is unchanged, so a replacement
	// launches.
	FaultTerminateUnderneath FaultKind = "terminate-underneath"
)

// Fault is one failure to rehearse. It is JSON so the simulator can take
// it from the operator and persist it with the state.
type Fault struct {
	Kind       FaultKind `json:"kind"`
	Group      string    `json:"group,omitempty"`       // "": any group
	Action     string    `json:"action,omitempty"`      // api-error
	Code       string    `json:"code,omitempty"`        // api-error
	Message    string    `json:"message,omitempty"`     // api-error, insufficient-capacity
	Status     int       `json:"status,omitempty"`      // api-error: HTTP status, default 400
	InstanceID string    `json:"instance_id,omitempty"` // hang-termination, terminate-underneath
	// Times is how often the fault fires before it is spent: 0 means
	// once, a negative number means until cleared.
	Times int `json:"times,omitempty"`
}

// Inject arms a fault, or for the "underneath" kinds, acts now.
func (f *Fake) Inject(ft Fault) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	switch ft.Kind {
	case FaultAPIError:
		if ft.Action == "" {
			ft.Action = "SetDesiredCapacity"
		}
		if ft.Code == "" {
			ft.Code = "ScalingActivityInProgress"
			ft.Message = "Scaling activity is in progress and blocks this action."
		}
	case FaultInsufficientCapacity, FaultHangTermination:
	case FaultLaunchUnderneath, FaultTerminateUnderneath:
		return f.underneath(ft, now)
	default:
		return fmt.Errorf("fakeaws: unknown fault kind %q", ft.Kind)
	}
	if ft.Times == 0 {
		ft.Times = 1
	}
	f.st.Faults = append(f.st.Faults, ft)
	return nil
}

// FailNextCall makes the next call of action fail with an API error.
func (f *Fake) FailNextCall(action, code, message string) error {
	return f.Inject(Fault{Kind: FaultAPIError, Action: action, Code: code, Message: message})
}

// FailNextLaunch makes the next launch fail with InsufficientInstanceCapacity.
func (f *Fake) FailNextLaunch() error {
	return f.Inject(Fault{Kind: FaultInsufficientCapacity})
}

// HangTermination holds instance id ("": the next one) in Terminating:Wait.
func (f *Fake) HangTermination(id string) error {
	return f.Inject(Fault{Kind: FaultHangTermination, InstanceID: id})
}

// LaunchUnderneath launches an instance in group without being asked.
func (f *Fake) LaunchUnderneath(group string) error {
	return f.Inject(Fault{Kind: FaultLaunchUnderneath, Group: group})
}

// TerminateUnderneath terminates instance id ("": the newest in service)
// of group without being asked.
func (f *Fake) TerminateUnderneath(group, id string) error {
	return f.Inject(Fault{Kind: FaultTerminateUnderneath, Group: group, InstanceID: id})
}

// Faults returns the armed faults.
func (f *Fake) Faults() []Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Fault(nil), f.st.Faults...)
}

// ClearFaults disarms every fault and releases hung terminations.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Faults = nil
	for _, g := range f.st.Groups {
		for _, m := range g.Members {
			m.Hung = false
		}
	}
}

// takeFault spends one firing of the first fault that matches and
// returns it.
func (f *Fake) takeFault(match func(Fault) bool) (Fault, bool) {
	return fakecloud.TakeFault(&f.st.Faults, func(ft *Fault) *int { return &ft.Times }, match)
}

func (f *Fake) apiFault(action, group string) (Fault, bool) {
	return f.takeFault(func(ft Fault) bool {
		return ft.Kind == FaultAPIError && ft.Action == action && (ft.Group == "" || ft.Group == group)
	})
}

func (f *Fake) underneath(ft Fault, now time.Time) error {
	g := f.st.group(ft.Group)
	if g == nil {
		return fmt.Errorf("fakeaws: no group %q", ft.Group)
	}
	if ft.Kind == FaultLaunchUnderneath {
		if g.Desired+1 > g.Max {
			return fmt.Errorf("fakeaws: group %s is at its maximum size %d", g.Name, g.Max)
		}
		cause := fmt.Sprintf("At %s a scheduled action changed the desired capacity from %d to %d.", isoSeconds(now), g.Desired, g.Desired+1)
		g.Desired++
		f.reconcile(g, now, cause)
		return nil
	}
	var victim *Member
	for _, m := range g.Members {
		if m.Lifecycle == InService && (ft.InstanceID == "" || m.InstanceID == ft.InstanceID) {
			victim = m // members are oldest first, so this ends on the newest
		}
	}
	if victim == nil {
		return fmt.Errorf("fakeaws: group %s has no in-service instance %q", g.Name, ft.InstanceID)
	}
	cause := fmt.Sprintf("At %s an instance was taken out of service in response to an EC2 health check indicating it has been terminated or stopped.", isoSeconds(now))
	f.startTerminate(g, victim, now, cause)
	f.reconcile(g, now, "")
	return nil
}
