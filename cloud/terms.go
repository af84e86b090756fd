package cloud

import "fmt"

// Terms are a provider's own words for the parts of a rollout, so that
// what nwroll says matches what the operator sees in that cloud.
type Terms struct {
	Group    string // "Auto Scaling group"
	Template string // what new instances launch from: "launch template"
	// NewTemplate says what prepare makes from the current template
	// (%[1]s) for the new image (%[2]s).
	NewTemplate string
	Pin         string // how the group is pointed at a template: "by number (never $Latest)"
	Movers      string // what Freeze stops: "suspended processes"
	// Tagged says how an image names its release (%s).
	Tagged string
	// Hold is what keeps a retired instance for Neuwerk's drain ("" for
	// none); Drained says what Neuwerk then does with node %s.
	Hold    string
	Drained string
	// Refresh is the native rolling replacement, StartRefresh the
	// operator's command to start one (%s: the group), CancelRefresh how
	// nwroll stops it.
	Refresh       string
	StartRefresh  string
	CancelRefresh string
}

var terms = map[string]Terms{
	"aws": {
		Group: "Auto Scaling group", Template: "launch template",
		NewTemplate: "create a new version of launch template %[1]s, launching image %[2]s",
		Pin:         "by number (never $Latest)", Movers: "suspended processes", Tagged: "tagged " + ReleaseTag + "=%s",
		Hold: "terminating lifecycle hook", Drained: "Neuwerk drains %s and evicts it from Raft through the terminating hook",
		Refresh: "instance refresh", StartRefresh: "aws autoscaling start-instance-refresh --auto-scaling-group-name %s …",
		CancelRefresh: "cancel-instance-refresh",
	},
	"azure": {
		Group: "VM scale set", Template: "scale set model",
		NewTemplate: "take the model of %[1]s with its image reference on gallery image version %[2]s",
		Pin:         "by gallery image version (never latest)", Movers: "orchestration services", Tagged: "tagged " + ReleaseTag + "=%s",
		Hold: "terminate notification", Drained: "Neuwerk drains %s, evicts it from Raft and acknowledges the terminate notification",
		Refresh: "rolling upgrade", StartRefresh: "az vmss rolling-upgrade start --name %s …",
		CancelRefresh: "az vmss rolling-upgrade cancel",
	},
	"gcp": {
		Group: "managed instance group", Template: "instance template",
		NewTemplate: "create an instance template from %[1]s, launching image %[2]s",
		Pin:         "as its only version", Movers: "update policy and autoscaler", Tagged: "labelled neuwerk_release=%s (dots as underscores)",
		Drained: "GCP holds no deletion: %s drains in its graceful shutdown, and nwroll removes its Raft member once it is gone",
		Refresh: "proactive update", StartRefresh: "gcloud compute instance-groups managed rolling-action start-update %s --max-unavailable 0 …",
		CancelRefresh: "the update policy set back to opportunistic",
	},
}

// TermsOf are provider's words; an unknown provider gets generic ones.
func TermsOf(provider string) Terms {
	if t, ok := terms[provider]; ok {
		return t
	}
	return Terms{Group: "group", Template: "template", NewTemplate: "create a template from %[1]s, launching image %[2]s",
		Pin: "explicitly", Movers: "background movers", Tagged: "tagged " + ReleaseTag + "=%s", Drained: "Neuwerk drains %s", Refresh: "rolling replacement",
		StartRefresh: "start the group's rolling replacement of %s", CancelRefresh: "cancel it"}
}

// DrainedLine is what Neuwerk does with retired node.
func (t Terms) DrainedLine(node string) string { return fmt.Sprintf(t.Drained, node) }
