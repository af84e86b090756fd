package fakeaws

import "time"

// AWS lifecycle states of an Auto Scaling group's instance.
const (
	Pending            = "Pending"
	PendingWait        = "Pending:Wait"
	PendingProceed     = "Pending:Proceed"
	InService          = "InService"
	Terminating        = "Terminating"
	TerminatingWait    = "Terminating:Wait"
	TerminatingProceed = "Terminating:Proceed"
)

// EC2 instance states.
const (
	EC2Pending      = "pending"
	EC2Running      = "running"
	EC2ShuttingDown = "shutting-down"
	EC2Terminated   = "terminated"
)

// Lifecycle hook transitions.
const (
	TransitionLaunching   = "autoscaling:EC2_INSTANCE_LAUNCHING"
	TransitionTerminating = "autoscaling:EC2_INSTANCE_TERMINATING"
)

// Tags every launched instance carries, as Neuwerk's discovery expects.
const (
	ClusterTag = "neuwerk.io/cluster"
	RoleTag    = "neuwerk.io/role"
	ReleaseTag = "neuwerk.io/release"
)

// State is everything the fake knows. It is what Snapshot writes and
// Restore reads.
type State struct {
	Seq       int64                      `json:"seq"`
	Groups    map[string]*Group          `json:"groups"`
	Templates map[string]*LaunchTemplate `json:"templates"` // by id
	Images    map[string]*Image          `json:"images"`
	Instances map[string]*EC2Instance    `json:"instances"`
	Faults    []Fault                    `json:"faults,omitempty"`
}

// Group is one Auto Scaling group.
type Group struct {
	Name     string            `json:"name"`
	Min      int               `json:"min"`
	Max      int               `json:"max"`
	Desired  int               `json:"desired"`
	Template TemplateSpec      `json:"template"` // Version may be "$Latest" or "$Default", as on AWS
	Zones    []string          `json:"zones"`
	Tags     map[string]string `json:"tags,omitempty"` // propagated to launched instances
	// InstanceType is what launched instances report when the template
	// version names none.
	InstanceType string             `json:"instance_type,omitempty"`
	Members      []*Member          `json:"members"`
	Suspended    []string           `json:"suspended,omitempty"`
	Hooks        []Hook             `json:"hooks,omitempty"`
	Refreshes    []*InstanceRefresh `json:"refreshes,omitempty"`  // oldest first
	Activities   []*Activity        `json:"activities,omitempty"` // oldest first
	Created      time.Time          `json:"created"`
	// LaunchBackoffUntil: after a failed launch the group waits before it
	// tries again, like AWS does.
	LaunchBackoffUntil time.Time `json:"launch_backoff_until,omitzero"`
}

// TemplateSpec names a launch template version as a group or a refresh
// holds it.
type TemplateSpec struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Member is an instance as its group sees it.
type Member struct {
	InstanceID string       `json:"instance_id"`
	Zone       string       `json:"zone"`
	Lifecycle  string       `json:"lifecycle"`
	Health     string       `json:"health"`
	Template   TemplateSpec `json:"template"` // the explicit version it launched from
	// Launched is set once the Backend has started the instance.
	Launched bool `json:"launched"`
	// The lifecycle hook holding the instance now, if any.
	HookName     string    `json:"hook_name,omitempty"`
	HookToken    string    `json:"hook_token,omitempty"`
	HookDeadline time.Time `json:"hook_deadline,omitzero"`
	HookStart    time.Time `json:"hook_start,omitzero"`   // heartbeats extend the hold up to the hook's global timeout from here
	HookResult   string    `json:"hook_result,omitempty"` // CONTINUE or ABANDON once answered
	// Hung: a terminating hold that ignores CompleteLifecycleAction and
	// never times out (the hang-termination fault).
	Hung       bool   `json:"hung,omitempty"`
	ActivityID string `json:"activity_id,omitempty"` // the activity in progress for it
	Cause      string `json:"cause,omitempty"`       // why it is terminating
}

// Hook is a lifecycle hook.
type Hook struct {
	Name             string        `json:"name"`
	Transition       string        `json:"transition"`
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout"`
	DefaultResult    string        `json:"default_result"` // CONTINUE or ABANDON
}

// GlobalTimeout is AWS's cap on one hook action: 100 heartbeat timeouts
// or 48 hours, whichever is smaller.
func (h Hook) GlobalTimeout() time.Duration {
	return min(100*h.HeartbeatTimeout, 48*time.Hour)
}

// InstanceRefresh is one instance refresh of a group.
type InstanceRefresh struct {
	ID                string        `json:"id"`
	Status            string        `json:"status"` // Pending, InProgress, Successful, Cancelling, Cancelled, Failed
	StatusReason      string        `json:"status_reason,omitempty"`
	Start             time.Time     `json:"start"`
	End               time.Time     `json:"end,omitzero"`
	Desired           *TemplateSpec `json:"desired,omitempty"` // nil: the group's own template
	MinHealthy        int           `json:"min_healthy"`
	MaxHealthy        int           `json:"max_healthy"`
	SkipMatching      bool          `json:"skip_matching"`
	InstancesToUpdate int           `json:"instances_to_update"`
	Total             int           `json:"total"`
	// Replacing is the old instance being replaced now; Surged says the
	// refresh raised desired capacity by one for it.
	Replacing string `json:"replacing,omitempty"`
	Surged    bool   `json:"surged,omitempty"`
}

// Active reports whether the refresh still runs.
func (r *InstanceRefresh) Active() bool {
	return r.Status == "Pending" || r.Status == "InProgress" || r.Status == "Cancelling"
}

// Activity is one scaling activity.
type Activity struct {
	ID            string    `json:"id"`
	Description   string    `json:"description"`
	Cause         string    `json:"cause"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end,omitzero"`
	Status        string    `json:"status"` // InProgress, Successful, Failed, Cancelled
	StatusMessage string    `json:"status_message,omitempty"`
	Progress      int       `json:"progress"`
}

// LaunchTemplate is an EC2 launch template.
type LaunchTemplate struct {
	ID             string             `json:"id"`
	Name           string             `json:"name"`
	DefaultVersion int                `json:"default_version"`
	Versions       []*TemplateVersion `json:"versions"` // version n at index n-1
	Created        time.Time          `json:"created"`
	// ClientTokens maps a CreateLaunchTemplateVersion client token to the
	// version it made, so a repeat returns that version.
	ClientTokens map[string]int `json:"client_tokens,omitempty"`
}

// TemplateVersion is one version of a launch template.
type TemplateVersion struct {
	Number       int       `json:"number"`
	ImageID      string    `json:"image_id,omitempty"`
	InstanceType string    `json:"instance_type,omitempty"`
	Description  string    `json:"description,omitempty"`
	Created      time.Time `json:"created"`
}

// Image is an AMI.
type Image struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	State   string            `json:"state"` // available, pending, failed
	Tags    map[string]string `json:"tags,omitempty"`
	Created time.Time         `json:"created"`
}

// EC2Instance is an instance as EC2 sees it.
type EC2Instance struct {
	ID           string            `json:"id"`
	ImageID      string            `json:"image_id"`
	InstanceType string            `json:"instance_type"`
	PrivateIP    string            `json:"private_ip,omitempty"`
	State        string            `json:"state"`
	Zone         string            `json:"zone"`
	Tags         map[string]string `json:"tags,omitempty"`
	LaunchTime   time.Time         `json:"launch_time"`
	TerminatedAt time.Time         `json:"terminated_at,omitzero"`
	StateReason  string            `json:"state_reason,omitempty"`
}

func (s *State) group(name string) *Group {
	if s.Groups == nil {
		return nil
	}
	return s.Groups[name]
}

func (g *Group) member(id string) *Member {
	for _, m := range g.Members {
		if m.InstanceID == id {
			return m
		}
	}
	return nil
}

func (g *Group) removeMember(id string) {
	for i, m := range g.Members {
		if m.InstanceID == id {
			g.Members = append(g.Members[:i:i], g.Members[i+1:]...)
			return
		}
	}
}

func (g *Group) hook(transition string) *Hook {
	for i := range g.Hooks {
		if g.Hooks[i].Transition == transition {
			return &g.Hooks[i]
		}
	}
	return nil
}

func (g *Group) suspended(process string) bool {
	for _, p := range g.Suspended {
		if p == process {
			return true
		}
	}
	return false
}

func (g *Group) activity(id string) *Activity {
	for _, a := range g.Activities {
		if a.ID == id {
			return a
		}
	}
	return nil
}

func (g *Group) activeRefresh() *InstanceRefresh {
	for _, r := range g.Refreshes {
		if r.Active() {
			return r
		}
	}
	return nil
}

// capacity counts the instances that count toward desired capacity: all
// that are not terminating.
func (g *Group) capacity() int {
	n := 0
	for _, m := range g.Members {
		if !terminating(m.Lifecycle) {
			n++
		}
	}
	return n
}

func terminating(lifecycle string) bool {
	return lifecycle == Terminating || lifecycle == TerminatingWait || lifecycle == TerminatingProceed
}

func pending(lifecycle string) bool {
	return lifecycle == Pending || lifecycle == PendingWait || lifecycle == PendingProceed
}

// resolve turns a version ("3", "$Latest", "$Default", "") into a number.
func (t *LaunchTemplate) resolve(version string) (*TemplateVersion, bool) {
	n := 0
	switch version {
	case "$Latest":
		n = len(t.Versions)
	case "$Default", "":
		n = t.DefaultVersion
	default:
		for _, c := range version {
			if c < '0' || c > '9' {
				return nil, false
			}
			n = n*10 + int(c-'0')
			if n > 1<<30 {
				return nil, false
			}
		}
	}
	if n < 1 || n > len(t.Versions) {
		return nil, false
	}
	return t.Versions[n-1], true
}
