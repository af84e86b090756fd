package fakegcp

import (
	"encoding/json"
	"strings"
	"time"
)

// State is the fake's whole state: what Snapshot writes.
type State struct {
	Seq         uint64                 `json:"seq"`
	Images      map[string]*Image      `json:"images"`    // by name
	Templates   map[string]*Template   `json:"templates"` // by name
	Groups      map[string]*Group      `json:"groups"`    // by name
	Autoscalers map[string]*Autoscaler `json:"autoscalers"`
	Operations  map[string]*Operation  `json:"operations"` // by name
	Faults      []Fault                `json:"faults,omitempty"`
}

func (s *State) init() {
	if s.Images == nil {
		s.Images = map[string]*Image{}
	}
	if s.Templates == nil {
		s.Templates = map[string]*Template{}
	}
	if s.Groups == nil {
		s.Groups = map[string]*Group{}
	}
	if s.Autoscalers == nil {
		s.Autoscalers = map[string]*Autoscaler{}
	}
	if s.Operations == nil {
		s.Operations = map[string]*Operation{}
	}
}

// image finds an image by name or by a link ending in /images/NAME.
func (s *State) image(ref string) *Image {
	return s.Images[lastSegment(ref)]
}

// Image is a global image.
type Image struct {
	Name    string            `json:"name"`
	ID      uint64            `json:"id"`
	Release string            `json:"release,omitempty"` // decoded from Labels[ReleaseLabel]
	Labels  map[string]string `json:"labels,omitempty"`
	Status  string            `json:"status"` // READY
	Created time.Time         `json:"created"`
}

// Template is a global instance template.
type Template struct {
	Name        string    `json:"name"`
	ID          uint64    `json:"id"`
	Description string    `json:"description,omitempty"`
	SourceImage string    `json:"source_image"` // a self link
	MachineType string    `json:"machine_type"`
	Created     time.Time `json:"created"`
	// GracefulShutdown is scheduling.gracefulShutdown.maxDuration when
	// enabled; 0: disabled.
	GracefulShutdown time.Duration `json:"graceful_shutdown,omitempty"`
	// Raw is the template as inserted (JSON), served back with the fields
	// above overriding; empty for seeded templates.
	Raw json.RawMessage `json:"raw,omitempty"`
}

// UpdatePolicy is the group's updatePolicy.
type UpdatePolicy struct {
	Type           string `json:"type"`           // PROACTIVE or OPPORTUNISTIC
	MinimalAction  string `json:"minimal_action"` // REPLACE, RESTART, REFRESH, NONE
	MaxSurge       int    `json:"max_surge"`      // fixed
	MaxUnavailable int    `json:"max_unavailable"`
	Redistribution string `json:"redistribution"` // PROACTIVE or NONE
	Replacement    string `json:"replacement"`    // SUBSTITUTE or RECREATE
}

// Version is one of the group's versions.
type Version struct {
	Name     string `json:"name,omitempty"`
	Template string `json:"template"` // template name
}

// Group is a regional managed instance group.
type Group struct {
	Name             string       `json:"name"`
	ID               uint64       `json:"id"`
	BaseInstanceName string       `json:"base_instance_name"`
	Zones            []string     `json:"zones"`
	TargetSize       int          `json:"target_size"`
	Versions         []Version    `json:"versions"`
	Policy           UpdatePolicy `json:"update_policy"`
	Instances        []*Instance  `json:"instances"`
	Created          time.Time    `json:"created"`
}

// Instance is one managed instance.
type Instance struct {
	Name          string         `json:"name"`
	ID            uint64         `json:"id,omitempty"` // 0 until it exists
	Zone          string         `json:"zone"`
	Template      string         `json:"template"`       // template name
	CurrentAction string         `json:"current_action"` // NONE, CREATING, DELETING, …
	Status        string         `json:"status"`         // RUNNING, PROVISIONING, STOPPING, "" (none yet)
	PrivateIP     string         `json:"private_ip,omitempty"`
	Created       time.Time      `json:"created"`
	Started       time.Time      `json:"started,omitempty"`
	LastErrors    []AttemptError `json:"last_errors,omitempty"`
	RetryAt       time.Time      `json:"retry_at,omitempty"`
	DeleteAsked   time.Time      `json:"delete_asked,omitempty"` // when it became DELETING
	DeleteAt      time.Time      `json:"delete_at,omitempty"`    // when its graceful shutdown ends
	Hang          bool           `json:"hang,omitempty"`         // a hang-deletion fault holds it
}

// AttemptError is one of lastAttempt.errors.
type AttemptError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Autoscaler is a regional autoscaler.
type Autoscaler struct {
	Name   string `json:"name"`
	ID     uint64 `json:"id"`
	Target string `json:"target"` // group name
	Mode   string `json:"mode"`   // ON, OFF, ONLY_SCALE_OUT
	Min    int    `json:"min"`
	Max    int    `json:"max"`
}

// Operation is a long-running operation.
type Operation struct {
	Name       string    `json:"name"`
	ID         uint64    `json:"id"`
	Scope      string    `json:"scope"` // "regions/R", "zones/Z" or "global"
	Type       string    `json:"type"`  // resize, patch, insert, …
	TargetLink string    `json:"target_link"`
	TargetID   uint64    `json:"target_id,omitempty"`
	Status     string    `json:"status"` // RUNNING, DONE
	Created    time.Time `json:"created"`
	DoneAt     time.Time `json:"done_at"`
	EndTime    time.Time `json:"end_time,omitempty"`
	ErrorCode  string    `json:"error_code,omitempty"` // set: the operation failed
	ErrorMsg   string    `json:"error_message,omitempty"`
	HTTPStatus int       `json:"http_status,omitempty"`
}

func (g *Group) template() string {
	if len(g.Versions) == 0 {
		return ""
	}
	return g.Versions[0].Template
}

func (g *Group) instance(name string) *Instance {
	for _, in := range g.Instances {
		if in.Name == name {
			return in
		}
	}
	return nil
}

func (g *Group) remove(name string) {
	for i, in := range g.Instances {
		if in.Name == name {
			g.Instances = append(g.Instances[:i], g.Instances[i+1:]...)
			return
		}
	}
}

func leaving(action string) bool { return action == "DELETING" || action == "ABANDONING" }

// active are the instances the group keeps (not being deleted).
func (g *Group) active() []*Instance {
	var out []*Instance
	for _, in := range g.Instances {
		if !leaving(in.CurrentAction) {
			out = append(out, in)
		}
	}
	return out
}

// outdated are active instances not on the group's template.
func (g *Group) outdated() []*Instance {
	var out []*Instance
	for _, in := range g.active() {
		if in.Template != g.template() {
			out = append(out, in)
		}
	}
	return out
}

// scaleInVictim picks the instance a smaller group deletes: one still
// being created, then the oldest outdated, then (not proactive) the
// newest.
func (g *Group) scaleInVictim(proactive bool) *Instance {
	active := g.active()
	for i := len(active) - 1; i >= 0; i-- {
		if active[i].CurrentAction == "CREATING" && g.template() != "" && active[i].Template != g.template() {
			return active[i]
		}
	}
	if out := g.outdated(); len(out) > 0 {
		for _, in := range out {
			if in.CurrentAction == "NONE" {
				return in
			}
		}
		if !proactive {
			return out[0]
		}
	}
	if proactive && len(g.outdated()) > 0 {
		return nil
	}
	for i := len(active) - 1; i >= 0; i-- {
		if active[i].CurrentAction == "CREATING" {
			return active[i]
		}
	}
	if len(active) == 0 {
		return nil
	}
	return active[len(active)-1]
}

// emptiestZone is the zone with the fewest active instances.
func (g *Group) emptiestZone() string {
	count := map[string]int{}
	for _, in := range g.active() {
		count[in.Zone]++
	}
	best := ""
	for _, z := range g.Zones {
		if best == "" || count[z] < count[best] {
			best = z
		}
	}
	return best
}

func lastSegment(ref string) string {
	return ref[strings.LastIndex(ref, "/")+1:]
}
