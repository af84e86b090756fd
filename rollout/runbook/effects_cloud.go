package runbook

import "github.com/nwroll/nwroll/cloud"

// Effects of an image-first rollout (cloud mode). Each is one provider
// call (or one API call) the executor makes; every one that changes the
// group is preceded by its journal intent, and is safe to repeat, so a
// resumed run can make it again after asking the provider what happened.

// CloudDescribe: read the group. Read-only. Answer: Data cloud.Group.
type CloudDescribe struct{ EffectMeta }

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
}

// RemoveMember: POST /api/v1/cluster/members/{NodeID}/remove (force false)
// through any live node, which proxies it to the leader.
type RemoveMember struct {
	EffectMeta
	Node   string
	NodeID string
}

func (CloudDescribe) Kind() string    { return "describe" }
func (CloudNewTemplate) Kind() string { return "new-template" }
func (CloudSetTemplate) Kind() string { return "set-template" }
func (CloudFreeze) Kind() string      { return "freeze" }
func (CloudThaw) Kind() string        { return "thaw" }
func (CloudSurge) Kind() string       { return "surge" }
func (CloudRetire) Kind() string      { return "retire" }
func (RemoveMember) Kind() string     { return "remove-member" }

// cloudChanges reports whether e is a cloud effect that changes the group
// or the membership.
func cloudChanges(e Effect) bool {
	switch e.(type) {
	case CloudNewTemplate, CloudSetTemplate, CloudFreeze, CloudThaw, CloudSurge, CloudRetire, RemoveMember:
		return true
	}
	return false
}
