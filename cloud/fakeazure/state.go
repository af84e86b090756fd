package fakeazure

import (
	"fmt"
	"time"

	"github.com/nwroll/nwroll/cloud/azure"
)

// ReleaseTag is the gallery image version tag naming a Neuwerk release.
const ReleaseTag = "neuwerk.io/release"

// Provisioning states of a scale set VM, as ARM reports them.
const (
	Creating  = "Creating"
	Succeeded = "Succeeded"
	Failed    = "Failed"
	Deleting  = "Deleting"
)

// Orchestration services and their states.
const (
	AutomaticRepairs         = "AutomaticRepairs"
	AutomaticZoneRebalancing = "AutomaticZoneRebalancing"
	Running                  = "Running"
	Suspended                = "Suspended"
	NotRunning               = "NotRunning"
)

// State is everything the fake knows: what Snapshot writes and Restore
// reads.
type State struct {
	Seq          int64                    `json:"seq"`
	Incarnation  int                      `json:"incarnation"` // IMDS DocumentIncarnation
	Subscription string                   `json:"subscription"`
	Images       map[string]*ImageVersion `json:"images"`     // by lower-case resource id
	ScaleSets    map[string]*ScaleSet     `json:"scale_sets"` // by name
	Faults       []Fault                  `json:"faults,omitempty"`
}

// ImageVersion is a gallery image version.
type ImageVersion struct {
	ResourceGroup string            `json:"resource_group"`
	Gallery       string            `json:"gallery"`
	Definition    string            `json:"definition"`
	Version       string            `json:"version"`
	Tags          map[string]string `json:"tags,omitempty"`
	Created       time.Time         `json:"created"`
}

// ScaleSet is one VM scale set.
type ScaleSet struct {
	Name          string `json:"name"`
	ResourceGroup string `json:"resource_group"`
	Location      string `json:"location"`
	Capacity      int    `json:"capacity"`
	// ImageRef is the model's storageProfile.imageReference.id.
	ImageRef string `json:"image_ref"`
	// ImageRefVersion is imageReference.version when the model names an
	// image by a version word ("latest") instead of an id.
	ImageRefVersion       string            `json:"image_ref_version,omitempty"`
	UpgradeMode           string            `json:"upgrade_mode"` // Manual, Automatic, Rolling
	TerminateNotification bool              `json:"terminate_notification"`
	NotBeforeTimeout      string            `json:"not_before_timeout,omitempty"` // ISO 8601, PT5M
	Services              map[string]string `json:"services,omitempty"`           // orchestration service → state
	Model                 int               `json:"model"`                        // bumped by every model change
	VMs                   []*VM             `json:"vms"`                          // oldest first
	Upgrades              []*RollingUpgrade `json:"upgrades,omitempty"`           // oldest first
	NextInstance          int               `json:"next_instance"`
	Tags                  map[string]string `json:"tags,omitempty"`
	Zones                 []string          `json:"zones,omitempty"`
	Created               time.Time         `json:"created"`
}

// VM is a scale set VM.
type VM struct {
	InstanceID        string    `json:"instance_id"`
	Name              string    `json:"name"`
	PrivateIP         string    `json:"private_ip,omitempty"`
	ImageRef          string    `json:"image_ref"`
	Model             int       `json:"model"` // the scale set model it runs
	State             string    `json:"state"` // Creating, Succeeded, Failed, Deleting
	Error             string    `json:"error,omitempty"`
	ProtectScaleIn    bool      `json:"protect_scale_in,omitempty"`
	ProtectSetActions bool      `json:"protect_set_actions,omitempty"`
	Zone              string    `json:"zone,omitempty"`
	Created           time.Time `json:"created"`
	Launched          bool      `json:"launched"`
	// The Terminate scheduled event of a VM being deleted.
	EventID     string    `json:"event_id,omitempty"`
	EventStatus string    `json:"event_status,omitempty"` // Scheduled, Started
	NotBefore   time.Time `json:"not_before,omitzero"`
	Hung        bool      `json:"hung,omitempty"` // the hang-deletion fault: no timeout, no acknowledgement
}

// RollingUpgrade is one rolling upgrade of a scale set.
type RollingUpgrade struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"` // RollingForward, Cancelled, Completed, Faulted
	Start     time.Time `json:"start"`
	End       time.Time `json:"end,omitzero"`
	Done      int       `json:"done"`
	Failed    int       `json:"failed"`
	Surge     string    `json:"surge,omitempty"`     // the new VM launched for Replacing
	Replacing string    `json:"replacing,omitempty"` // the outdated VM being replaced
	Cancel    bool      `json:"cancel,omitempty"`
}

func (s *ScaleSet) vm(name string) *VM {
	for _, v := range s.VMs {
		if v.Name == name {
			return v
		}
	}
	return nil
}

func (s *ScaleSet) vmByInstance(id string) *VM {
	for _, v := range s.VMs {
		if v.InstanceID == id {
			return v
		}
	}
	return nil
}

func (s *ScaleSet) remove(name string) {
	for i, v := range s.VMs {
		if v.Name == name {
			s.VMs = append(s.VMs[:i:i], s.VMs[i+1:]...)
			return
		}
	}
}

// active counts the VMs that count toward capacity: all not deleting.
func (s *ScaleSet) active() int {
	n := 0
	for _, v := range s.VMs {
		if v.State != Deleting {
			n++
		}
	}
	return n
}

func (s *ScaleSet) activeUpgrade() *RollingUpgrade {
	if n := len(s.Upgrades); n > 0 && s.Upgrades[n-1].Status == "RollingForward" {
		return s.Upgrades[n-1]
	}
	return nil
}

// notBefore is the terminate notification's timeout (default 5 minutes).
func (s *ScaleSet) notBefore() time.Duration {
	d, err := azure.ParseDuration(s.NotBeforeTimeout)
	if err != nil || d <= 0 {
		return 5 * time.Minute
	}
	return d
}

// ImageID is the ARM resource id of a gallery image version.
func ImageID(subscription, resourceGroup, gallery, definition, version string) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/galleries/%s/images/%s/versions/%s",
		subscription, resourceGroup, gallery, definition, version)
}
