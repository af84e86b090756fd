package runbook

import "github.com/nwroll/nwroll/cloud"

// Effects of an image-first rollout (cloud mode). Each is one provider
// call (or one API call) the executor makes; every one that changes the
// group is preceded by its journal intent, and is safe to repeat, so a
// resumed run can make it again after asking the provider what happened.

// CloudDescribe: read the group. Read-only. Answer: Data cloud.Group.
// With Track (observe mode), the executor also makes every instance of
// the group a node to poll, and drops those gone.
type CloudDescribe struct {
	EffectMeta
	Track bool
}

// CloudCancelRefresh: cancel the group's instance refresh (observe mode).
type CloudCancelRefresh struct{ EffectMeta }

// CloudNewTemplate: a new version of the group's template, from Base,
// launching Image. Answer: Data cloud.TemplateRef, the version made.
type CloudNewTemplate struct {
	EffectMeta
	Base  cloud.TemplateRef
	Image cloud.Image
}

// CloudSetTemplate: point the group at Template (an explicit version).
type CloudSetTemplate struct {
	EffectMeta
	Template cloud.TemplateRef
}

// CloudFreeze suspends Processes; CloudThaw resumes them.
type CloudFreeze struct {
	EffectMeta
	Processes []string
}

// CloudThaw resumes exactly the processes a CloudFreeze suspended.
type CloudThaw struct {
	EffectMeta
	Processes []string
}

// CloudSurge: set the desired capacity to Desired and wait for the one
// instance that is not in Before to run with an address. Answer: Data
// cloud.Instance.
type CloudSurge struct {
	EffectMeta
	Desired int
	Before  []string
}

// CloudRetire: terminate exactly Instance (node Node), decrementing the
// desired capacity, and wait until the provider says it is terminated.
// Answer: Data cloud.Group, described once it is gone.
type CloudRetire struct {
	EffectMeta
	Node     string
	Instance string
	// NeverJoined: the instance never became a Raft member, so Neuwerk
	// will not drain it and answer the terminating hook: the executor
	// answers it (CONTINUE) instead of waiting out the hook's timeout.
	NeverJoined bool
}

// CloudCompleteLaunch: answer the launching hook that holds Instance
// (node Node) with CONTINUE, once its join gate passed. An instance no
// longer held is no error, so a repeat is harmless.
type CloudCompleteLaunch struct {
	EffectMeta
	Node     string
	Instance string
}

// RemoveMember: POST /api/v1/cluster/members/{NodeID}/remove (force false)
// through any live node, which proxies it to the leader.
type RemoveMember struct {
	EffectMeta
	Node   string
	NodeID string
}

func (CloudDescribe) Kind() string       { return "describe" }
func (CloudNewTemplate) Kind() string    { return "new-template" }
func (CloudSetTemplate) Kind() string    { return "set-template" }
func (CloudFreeze) Kind() string         { return "freeze" }
func (CloudThaw) Kind() string           { return "thaw" }
func (CloudSurge) Kind() string          { return "surge" }
func (CloudRetire) Kind() string         { return "retire" }
func (RemoveMember) Kind() string        { return "remove-member" }
func (CloudCompleteLaunch) Kind() string { return "complete-launch" }
func (CloudCancelRefresh) Kind() string  { return "cancel-refresh" }

// cloudChanges reports whether e is a cloud effect that changes the group
// or the membership.
func cloudChanges(e Effect) bool {
	switch e.(type) {
	case CloudNewTemplate, CloudSetTemplate, CloudFreeze, CloudThaw, CloudSurge, CloudRetire, RemoveMember, CloudCancelRefresh,
		CloudCompleteLaunch:
		return true
	}
	return false
}

// CloudRecord is what the journal keeps of a cloud effect, on its intent
// and its outcome: enough for a resumed run to repeat it, or to know what
// it did, without asking the provider to remember.
type CloudRecord struct {
	Desired   int      `json:"desired,omitempty"`   // surge: the capacity asked for
	Before    []string `json:"before,omitempty"`    // surge: the instances before it
	Replaces  string   `json:"replaces,omitempty"`  // surge: the node its instance replaces
	Instance  string   `json:"instance,omitempty"`  // surge outcome: the new instance; retire: the one retired
	Address   string   `json:"address,omitempty"`   // surge outcome: its private IP
	Image     string   `json:"image,omitempty"`     // surge outcome: its image; new-template: the image
	NodeID    string   `json:"node_id,omitempty"`   // retire, remove-member: the node's Raft id
	Processes []string `json:"processes,omitempty"` // freeze, thaw
	Template  string   `json:"template,omitempty"`  // set-template, new-template outcome: the template's id
	Name      string   `json:"template_name,omitempty"`
	Version   string   `json:"template_version,omitempty"`
}

func templateRecord(t cloud.TemplateRef, r *CloudRecord) *CloudRecord {
	r.Template, r.Name, r.Version = t.ID, t.Name, t.Version
	return r
}

// TemplateRef is the template version the record names.
func (r CloudRecord) TemplateRef() cloud.TemplateRef {
	return cloud.TemplateRef{ID: r.Template, Name: r.Name, Version: r.Version}
}

// cloudIntent is what e's intent records, or nil.
func (m *Machine) cloudIntent(e Effect) *CloudRecord {
	switch e := e.(type) {
	case CloudSurge:
		s, _ := m.StepByID(e.Step)
		return &CloudRecord{Desired: e.Desired, Before: e.Before, Replaces: s.Node}
	case CloudRetire:
		r := &CloudRecord{Instance: e.Instance}
		if n := m.node(e.Node); n != nil {
			r.NodeID = n.NodeID
		}
		return r
	case CloudFreeze:
		return &CloudRecord{Processes: e.Processes}
	case CloudThaw:
		return &CloudRecord{Processes: e.Processes}
	case CloudSetTemplate:
		return templateRecord(e.Template, &CloudRecord{})
	case CloudNewTemplate:
		return templateRecord(e.Base, &CloudRecord{Image: e.Image.ID})
	case RemoveMember:
		return &CloudRecord{NodeID: e.NodeID}
	case CloudCompleteLaunch:
		return &CloudRecord{Instance: e.Instance}
	}
	return nil
}

// cloudOutcome is what a cloud effect's outcome records, or nil.
func cloudOutcome(f inflightEffect, data any, replaces string) *CloudRecord {
	switch d := data.(type) {
	case cloud.Instance:
		return &CloudRecord{Instance: d.ID, Address: d.PrivateIP, Image: d.ImageID, Replaces: replaces}
	case cloud.TemplateRef:
		return templateRecord(d, &CloudRecord{})
	}
	return nil
}
