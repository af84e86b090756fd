package fakegcp

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// apiError is an answer in Google's JSON error shape.
type apiError struct {
	status  int
	reason  string
	message string
}

func notFound(what string) *apiError {
	return &apiError{http.StatusNotFound, "notFound", fmt.Sprintf("The resource '%s' was not found", what)}
}

func invalid(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "invalid", fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"error": map[string]any{"code": e.status, "message": e.message,
		"errors": []map[string]string{{"message": e.message, "domain": "global", "reason": e.reason}}}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeProto(w http.ResponseWriter, m proto.Message) {
	b, err := protojson.Marshal(m)
	if err != nil {
		writeError(w, &apiError{http.StatusInternalServerError, "backendError", err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(b)
}

var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// route is one request: its method name (as in Calls and faults) and the
// path's variables.
type route struct {
	method string
	vars   []string
}

// routes map "VERB pattern" (after /compute/v1/projects/{project}/, "*"
// a variable) to a method name.
var routes = []struct{ verb, pattern, method string }{
	{"GET", "regions/*/instanceGroupManagers/*", "regionInstanceGroupManagers.get"},
	{"PATCH", "regions/*/instanceGroupManagers/*", "regionInstanceGroupManagers.patch"},
	{"POST", "regions/*/instanceGroupManagers/*/listManagedInstances", "regionInstanceGroupManagers.listManagedInstances"},
	{"POST", "regions/*/instanceGroupManagers/*/resize", "regionInstanceGroupManagers.resize"},
	{"POST", "regions/*/instanceGroupManagers/*/deleteInstances", "regionInstanceGroupManagers.deleteInstances"},
	{"POST", "regions/*/instanceGroupManagers/*/recreateInstances", "regionInstanceGroupManagers.recreateInstances"},
	{"GET", "regions/*/autoscalers/*", "regionAutoscalers.get"},
	{"PATCH", "regions/*/autoscalers", "regionAutoscalers.patch"},
	{"GET", "regions/*/operations/*", "regionOperations.get"},
	{"POST", "regions/*/operations/*/wait", "regionOperations.wait"},
	{"GET", "global/operations/*", "globalOperations.get"},
	{"POST", "global/operations/*/wait", "globalOperations.wait"},
	{"GET", "zones/*/operations/*", "zoneOperations.get"},
	{"POST", "zones/*/operations/*/wait", "zoneOperations.wait"},
	{"GET", "global/images", "images.list"},
	{"GET", "global/images/*", "images.get"},
	{"GET", "global/instanceTemplates/*", "instanceTemplates.get"},
	{"POST", "global/instanceTemplates", "instanceTemplates.insert"},
	{"GET", "zones/*/instances/*", "instances.get"},
}

func match(verb, path string) (route, bool) {
	parts := strings.Split(path, "/")
	for _, r := range routes {
		pat := strings.Split(r.pattern, "/")
		if r.verb != verb || len(pat) != len(parts) {
			continue
		}
		var vars []string
		ok := true
		for i, p := range pat {
			if p == "*" {
				vars = append(vars, parts[i])
			} else if p != parts[i] {
				ok = false
				break
			}
		}
		if ok {
			return route{r.method, vars}, true
		}
	}
	return route{}, false
}

// ServeHTTP answers the compute v1 REST API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/compute/v1/projects/")
	if !ok {
		writeError(w, notFound(r.URL.Path))
		return
	}
	project, path, _ := strings.Cut(rest, "/")
	rt, ok := match(r.Method, path)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, invalid("read the body: %v", err))
		return
	}
	if rt.method == "regionOperations.wait" || rt.method == "globalOperations.wait" || rt.method == "zoneOperations.wait" {
		f.waitOperation(r, rt)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !ok {
		f.calls[r.Method+" "+path]++
		writeError(w, notFound(r.Method+" "+path))
		return
	}
	f.calls[rt.method]++
	if ft, hit := f.takeFault(func(ft Fault) bool { return ft.Kind == FaultAPIError && ft.Method == rt.method }); hit {
		writeError(w, &apiError{ft.Status, ft.Reason, ft.Message})
		return
	}
	if project != f.opts.Project {
		writeError(w, notFound("projects/"+project))
		return
	}
	if len(rt.vars) > 0 && strings.HasPrefix(path, "regions/") && rt.vars[0] != f.opts.Region {
		writeError(w, notFound("projects/"+project+"/regions/"+rt.vars[0]))
		return
	}
	now := f.now()
	var out proto.Message
	var e *apiError
	switch rt.method {
	case "regionInstanceGroupManagers.get":
		out, e = f.getGroup(rt.vars[1])
	case "regionInstanceGroupManagers.patch":
		out, e = f.patchGroup(rt.vars[1], body, now)
	case "regionInstanceGroupManagers.listManagedInstances":
		out, e = f.listManaged(rt.vars[1])
	case "regionInstanceGroupManagers.resize":
		out, e = f.resize(rt.vars[1], r.URL.Query().Get("size"), now)
	case "regionInstanceGroupManagers.deleteInstances":
		out, e = f.deleteInstances(rt.vars[1], body, r.URL.Query().Get("noGracefulShutdown") != "true", now)
	case "regionInstanceGroupManagers.recreateInstances":
		e = invalid("recreateInstances is not served by this fake: it deletes before it creates, with no surge")
	case "regionAutoscalers.get":
		out, e = f.getAutoscaler(rt.vars[1])
	case "regionAutoscalers.patch":
		out, e = f.patchAutoscaler(r.URL.Query().Get("autoscaler"), body, now)
	case "regionOperations.get", "regionOperations.wait":
		out, e = f.getOperation("regions/"+rt.vars[0], rt.vars[1])
	case "globalOperations.get", "globalOperations.wait":
		out, e = f.getOperation("global", rt.vars[0])
	case "zoneOperations.get", "zoneOperations.wait":
		out, e = f.getOperation("zones/"+rt.vars[0], rt.vars[1])
	case "images.list":
		out, e = f.listImages(r.URL.Query().Get("filter"))
	case "images.get":
		out, e = f.getImage(rt.vars[0])
	case "instanceTemplates.get":
		out, e = f.getTemplate(rt.vars[0])
	case "instanceTemplates.insert":
		out, e = f.insertTemplate(body, now)
	case "instances.get":
		out, e = f.getInstance(rt.vars[0], rt.vars[1])
	}
	if e != nil {
		writeError(w, e)
		return
	}
	writeProto(w, out)
}

// waitOperation blocks (without the lock) until the operation is DONE,
// the request ends, or two minutes passed, as operations.wait does.
func (f *Fake) waitOperation(r *http.Request, rt route) {
	name := rt.vars[len(rt.vars)-1]
	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(f.opts.Tick)
	defer tick.Stop()
	for {
		f.mu.Lock()
		op := f.st.Operations[name]
		done := op == nil || op.Status == "DONE"
		f.mu.Unlock()
		if done {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-f.ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// Links.

func (f *Fake) projectLink() string { return SelfLinkBase + "projects/" + f.opts.Project }
func (f *Fake) regionLink() string  { return f.projectLink() + "/regions/" + f.opts.Region }
func (f *Fake) zoneLink(z string) string {
	return f.projectLink() + "/zones/" + z
}
func (f *Fake) groupLink(g string) string { return f.regionLink() + "/instanceGroupManagers/" + g }
func (f *Fake) templateLink(t string) string {
	return f.projectLink() + "/global/instanceTemplates/" + t
}
func (f *Fake) imageLink(i string) string { return f.projectLink() + "/global/images/" + i }
func (f *Fake) instanceLink(in *Instance) string {
	return f.zoneLink(in.Zone) + "/instances/" + in.Name
}

func stamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	return proto.String(t.Format(time.RFC3339Nano))
}

// Operations.

func (f *Fake) newOperation(scope, typ, target string, targetID uint64, now time.Time) *Operation {
	id := f.nextID()
	op := &Operation{Name: fmt.Sprintf("operation-%d-%x", now.UnixMilli(), id), ID: id, Scope: scope, Type: typ,
		TargetLink: target, TargetID: targetID, Status: "RUNNING", Created: now, DoneAt: now.Add(f.opts.OperationDelay)}
	method := strings.TrimPrefix(typ, "compute.")
	if ft, ok := f.takeFault(func(ft Fault) bool { return ft.Kind == FaultOperationError && ft.Method == method }); ok {
		op.ErrorCode, op.ErrorMsg, op.HTTPStatus = ft.Code, ft.Message, ft.Status
	}
	f.st.Operations[op.Name] = op
	return op
}

func (f *Fake) operationProto(op *Operation) *computepb.Operation {
	status := computepb.Operation_RUNNING
	if op.Status == "DONE" {
		status = computepb.Operation_DONE
	}
	out := &computepb.Operation{Kind: proto.String("compute#operation"), Id: proto.Uint64(op.ID), Name: proto.String(op.Name),
		OperationType: proto.String(op.Type), TargetLink: proto.String(op.TargetLink), Status: &status,
		InsertTime: stamp(op.Created), StartTime: stamp(op.Created), EndTime: stamp(op.EndTime),
		SelfLink: proto.String(f.projectLink() + "/" + op.Scope + "/operations/" + op.Name)}
	if op.TargetID != 0 {
		out.TargetId = proto.Uint64(op.TargetID)
	}
	switch {
	case strings.HasPrefix(op.Scope, "regions/"):
		out.Region = proto.String(f.projectLink() + "/" + op.Scope)
	case strings.HasPrefix(op.Scope, "zones/"):
		out.Zone = proto.String(f.projectLink() + "/" + op.Scope)
	}
	progress := int32(0)
	if op.Status == "DONE" {
		progress = 100
		if op.ErrorCode != "" {
			out.Error = &computepb.Error{Errors: []*computepb.Errors{{Code: proto.String(op.ErrorCode), Message: proto.String(op.ErrorMsg)}}}
			if op.HTTPStatus != 0 {
				out.HttpErrorStatusCode = proto.Int32(int32(op.HTTPStatus))
				out.HttpErrorMessage = proto.String(http.StatusText(op.HTTPStatus))
			}
		}
	}
	out.Progress = &progress
	return out
}

func (f *Fake) getOperation(scope, name string) (proto.Message, *apiError) {
	op := f.st.Operations[name]
	if op == nil || op.Scope != scope {
		return nil, notFound("projects/" + f.opts.Project + "/" + scope + "/operations/" + name)
	}
	return f.operationProto(op), nil
}

// Groups.

func (f *Fake) group(name string) (*Group, *apiError) {
	g := f.st.Groups[name]
	if g == nil {
		return nil, notFound("projects/" + f.opts.Project + "/regions/" + f.opts.Region + "/instanceGroupManagers/" + name)
	}
	return g, nil
}

func (f *Fake) autoscalerOf(group string) *Autoscaler {
	for _, a := range f.st.Autoscalers {
		if a.Target == group {
			return a
		}
	}
	return nil
}

func fixed(n int) *computepb.FixedOrPercent {
	return &computepb.FixedOrPercent{Fixed: proto.Int32(int32(n)), Calculated: proto.Int32(int32(n))}
}

func (f *Fake) groupProto(g *Group) *computepb.InstanceGroupManager {
	out := &computepb.InstanceGroupManager{Kind: proto.String("compute#instanceGroupManager"), Id: proto.Uint64(g.ID),
		Name: proto.String(g.Name), SelfLink: proto.String(f.groupLink(g.Name)), Region: proto.String(f.regionLink()),
		BaseInstanceName: proto.String(g.BaseInstanceName), TargetSize: proto.Int32(int32(g.TargetSize)),
		CreationTimestamp: stamp(g.Created), Fingerprint: proto.String(strconv.FormatUint(f.st.Seq, 16)),
		UpdatePolicy: &computepb.InstanceGroupManagerUpdatePolicy{Type: proto.String(g.Policy.Type),
			MinimalAction: proto.String(g.Policy.MinimalAction), MaxSurge: fixed(g.Policy.MaxSurge),
			MaxUnavailable: fixed(g.Policy.MaxUnavailable), InstanceRedistributionType: proto.String(g.Policy.Redistribution),
			ReplacementMethod: proto.String(g.Policy.Replacement)},
		DistributionPolicy: &computepb.DistributionPolicy{TargetShape: proto.String("EVEN")}}
	for _, z := range g.Zones {
		out.DistributionPolicy.Zones = append(out.DistributionPolicy.Zones, &computepb.DistributionPolicyZoneConfiguration{Zone: proto.String(f.zoneLink(z))})
	}
	for _, v := range g.Versions {
		pv := &computepb.InstanceGroupManagerVersion{InstanceTemplate: proto.String(f.templateLink(v.Template))}
		if v.Name != "" {
			pv.Name = proto.String(v.Name)
		}
		out.Versions = append(out.Versions, pv)
	}
	if t := g.template(); t != "" {
		out.InstanceTemplate = proto.String(f.templateLink(t))
	}
	stable := len(g.Instances) == g.TargetSize
	for _, in := range g.Instances {
		if in.CurrentAction != "NONE" {
			stable = false
		}
	}
	out.Status = &computepb.InstanceGroupManagerStatus{IsStable: proto.Bool(stable),
		VersionTarget: &computepb.InstanceGroupManagerStatusVersionTarget{IsReached: proto.Bool(len(g.outdated()) == 0)}}
	if a := f.autoscalerOf(g.Name); a != nil {
		out.Status.Autoscaler = proto.String(f.regionLink() + "/autoscalers/" + a.Name)
	}
	return out
}

func (f *Fake) getGroup(name string) (proto.Message, *apiError) {
	g, e := f.group(name)
	if e != nil {
		return nil, e
	}
	return f.groupProto(g), nil
}

// templateName resolves a link or name of a global template of this
// project.
func (f *Fake) templateName(ref string) (string, *apiError) {
	if strings.Contains(ref, "/regions/") {
		return "", invalid("Invalid value for field 'instanceTemplate': '%s'. Regional instance templates are not served by this fake.", ref)
	}
	name := lastSegment(ref)
	if f.st.Templates[name] == nil {
		return "", notFound("projects/" + f.opts.Project + "/global/instanceTemplates/" + name)
	}
	return name, nil
}

func (f *Fake) patchGroup(name string, body []byte, now time.Time) (proto.Message, *apiError) {
	g, e := f.group(name)
	if e != nil {
		return nil, e
	}
	var in computepb.InstanceGroupManager
	if err := unmarshal.Unmarshal(body, &in); err != nil {
		return nil, invalid("Invalid JSON payload received. %v", err)
	}
	versions := g.Versions
	if len(in.Versions) > 0 {
		versions = nil
		for _, v := range in.Versions {
			t, e := f.templateName(v.GetInstanceTemplate())
			if e != nil {
				return nil, e
			}
			versions = append(versions, Version{Name: v.GetName(), Template: t})
		}
	} else if in.InstanceTemplate != nil {
		t, e := f.templateName(in.GetInstanceTemplate())
		if e != nil {
			return nil, e
		}
		versions = []Version{{Template: t}}
	}
	policy := g.Policy
	if up := in.UpdatePolicy; up != nil {
		if up.Type != nil {
			policy.Type = up.GetType()
		}
		if up.MinimalAction != nil {
			policy.MinimalAction = up.GetMinimalAction()
		}
		if up.MaxSurge != nil && up.MaxSurge.Fixed != nil {
			policy.MaxSurge = int(up.MaxSurge.GetFixed())
		}
		if up.MaxUnavailable != nil && up.MaxUnavailable.Fixed != nil {
			policy.MaxUnavailable = int(up.MaxUnavailable.GetFixed())
		}
		if up.InstanceRedistributionType != nil {
			policy.Redistribution = up.GetInstanceRedistributionType()
		}
		if up.ReplacementMethod != nil {
			policy.Replacement = up.GetReplacementMethod()
		}
	}
	if policy.Type != "PROACTIVE" && policy.Type != "OPPORTUNISTIC" {
		return nil, invalid("Invalid value for field 'resource.updatePolicy.type': '%s'.", policy.Type)
	}
	if policy.Redistribution != "PROACTIVE" && policy.Redistribution != "NONE" {
		return nil, invalid("Invalid value for field 'resource.updatePolicy.instanceRedistributionType': '%s'.", policy.Redistribution)
	}
	for field, n := range map[string]int{"maxSurge": policy.MaxSurge, "maxUnavailable": policy.MaxUnavailable} {
		if n != 0 && n < len(g.Zones) {
			return nil, invalid("Invalid value for field 'resource.updatePolicy.%s.fixed': '%d'. Fixed updatePolicy.%s for regional managed instance group has to be either 0 or at least equal to the number of zones.", field, n, field)
		}
	}
	if policy.Type == "PROACTIVE" && policy.MaxSurge == 0 && policy.MaxUnavailable == 0 {
		return nil, invalid("Invalid value for field 'resource.updatePolicy': maxSurge and maxUnavailable cannot both be 0 for a proactive update.")
	}
	g.Versions, g.Policy = versions, policy
	op := f.newOperation("regions/"+f.opts.Region, "compute.regionInstanceGroupManagers.patch", f.groupLink(g.Name), g.ID, now)
	f.reconcile(g, now)
	return f.operationProto(op), nil
}

func (f *Fake) managedProto(g *Group, in *Instance) *computepb.ManagedInstance {
	out := &computepb.ManagedInstance{Instance: proto.String(f.instanceLink(in)), Name: proto.String(in.Name),
		CurrentAction: proto.String(in.CurrentAction),
		Version:       &computepb.ManagedInstanceVersion{InstanceTemplate: proto.String(f.templateLink(in.Template))}}
	if in.ID != 0 {
		out.Id = proto.Uint64(in.ID)
	}
	if in.Status != "" {
		out.InstanceStatus = proto.String(in.Status)
	}
	for _, v := range g.Versions {
		if v.Template == in.Template && v.Name != "" {
			out.Version.Name = proto.String(v.Name)
		}
	}
	if len(in.LastErrors) > 0 {
		errs := &computepb.ManagedInstanceLastAttemptErrors{}
		for _, e := range in.LastErrors {
			errs.Errors = append(errs.Errors, &computepb.Errors{Code: proto.String(e.Code), Message: proto.String(e.Message)})
		}
		out.LastAttempt = &computepb.ManagedInstanceLastAttempt{Errors: errs}
	}
	return out
}

func (f *Fake) listManaged(name string) (proto.Message, *apiError) {
	g, e := f.group(name)
	if e != nil {
		return nil, e
	}
	out := &computepb.RegionInstanceGroupManagersListInstancesResponse{}
	for _, in := range g.Instances {
		out.ManagedInstances = append(out.ManagedInstances, f.managedProto(g, in))
	}
	return out, nil
}

func (f *Fake) resize(name, size string, now time.Time) (proto.Message, *apiError) {
	g, e := f.group(name)
	if e != nil {
		return nil, e
	}
	n, err := strconv.Atoi(size)
	if err != nil || n < 0 {
		return nil, invalid("Invalid value for field 'size': '%s'. Must be greater than or equal to 0.", size)
	}
	g.TargetSize = n
	op := f.newOperation("regions/"+f.opts.Region, "compute.regionInstanceGroupManagers.resize", f.groupLink(g.Name), g.ID, now)
	f.reconcile(g, now)
	return f.operationProto(op), nil
}

func (f *Fake) deleteInstances(name string, body []byte, graceful bool, now time.Time) (proto.Message, *apiError) {
	g, e := f.group(name)
	if e != nil {
		return nil, e
	}
	var req computepb.RegionInstanceGroupManagersDeleteInstancesRequest
	if err := unmarshal.Unmarshal(body, &req); err != nil {
		return nil, invalid("Invalid JSON payload received. %v", err)
	}
	if len(req.Instances) == 0 {
		return nil, invalid("Required field 'instances' not specified")
	}
	var victims []*Instance
	for _, link := range req.Instances {
		in := g.instance(lastSegment(link))
		if in == nil || !strings.HasSuffix(link, "zones/"+in.Zone+"/instances/"+in.Name) {
			if req.GetSkipInstancesOnValidationError() {
				continue
			}
			return nil, invalid("The instance '%s' is not a member of instance group manager '%s'.", link, g.Name)
		}
		victims = append(victims, in)
	}
	for _, in := range victims {
		if !leaving(in.CurrentAction) {
			g.TargetSize--
			f.startDelete(g, in, now, graceful)
		}
	}
	op := f.newOperation("regions/"+f.opts.Region, "compute.regionInstanceGroupManagers.deleteInstances", f.groupLink(g.Name), g.ID, now)
	f.reconcile(g, now)
	return f.operationProto(op), nil
}

// Autoscalers.

func (f *Fake) autoscalerProto(a *Autoscaler) *computepb.Autoscaler {
	return &computepb.Autoscaler{Kind: proto.String("compute#autoscaler"), Id: proto.Uint64(a.ID), Name: proto.String(a.Name),
		SelfLink: proto.String(f.regionLink() + "/autoscalers/" + a.Name), Region: proto.String(f.regionLink()),
		Target: proto.String(f.groupLink(a.Target)), Status: proto.String("ACTIVE"),
		AutoscalingPolicy: &computepb.AutoscalingPolicy{Mode: proto.String(a.Mode),
			MinNumReplicas: proto.Int32(int32(a.Min)), MaxNumReplicas: proto.Int32(int32(a.Max))}}
}

func (f *Fake) getAutoscaler(name string) (proto.Message, *apiError) {
	a := f.st.Autoscalers[name]
	if a == nil {
		return nil, notFound("projects/" + f.opts.Project + "/regions/" + f.opts.Region + "/autoscalers/" + name)
	}
	return f.autoscalerProto(a), nil
}

var modes = map[string]bool{"ON": true, "OFF": true, "ONLY_SCALE_OUT": true, "ONLY_UP": true}

func (f *Fake) patchAutoscaler(name string, body []byte, now time.Time) (proto.Message, *apiError) {
	var in computepb.Autoscaler
	if err := unmarshal.Unmarshal(body, &in); err != nil {
		return nil, invalid("Invalid JSON payload received. %v", err)
	}
	if name == "" {
		name = in.GetName()
	}
	a := f.st.Autoscalers[name]
	if a == nil {
		return nil, notFound("projects/" + f.opts.Project + "/regions/" + f.opts.Region + "/autoscalers/" + name)
	}
	next := *a
	if p := in.AutoscalingPolicy; p != nil {
		if p.Mode != nil {
			next.Mode = p.GetMode()
		}
		if p.MinNumReplicas != nil {
			next.Min = int(p.GetMinNumReplicas())
		}
		if p.MaxNumReplicas != nil {
			next.Max = int(p.GetMaxNumReplicas())
		}
	}
	if !modes[next.Mode] {
		return nil, invalid("Invalid value for field 'resource.autoscalingPolicy.mode': '%s'.", next.Mode)
	}
	if next.Min > next.Max {
		return nil, invalid("Invalid value for field 'resource.autoscalingPolicy.maxNumReplicas': '%d'. Must be greater than or equal to minNumReplicas.", next.Max)
	}
	*a = next
	op := f.newOperation("regions/"+f.opts.Region, "compute.regionAutoscalers.patch", f.regionLink()+"/autoscalers/"+a.Name, a.ID, now)
	return f.operationProto(op), nil
}

// Images.

func (f *Fake) imageProto(img *Image) *computepb.Image {
	return &computepb.Image{Kind: proto.String("compute#image"), Id: proto.Uint64(img.ID), Name: proto.String(img.Name),
		SelfLink: proto.String(f.imageLink(img.Name)), Status: proto.String(img.Status), Labels: img.Labels,
		CreationTimestamp: stamp(img.Created)}
}

func (f *Fake) getImage(name string) (proto.Message, *apiError) {
	img := f.st.Images[name]
	if img == nil {
		return nil, notFound("projects/" + f.opts.Project + "/global/images/" + name)
	}
	return f.imageProto(img), nil
}

// labelFilter is the one filter form images.list serves here:
// labels.KEY = VALUE (VALUE optionally quoted, the whole optionally in
// parentheses).
var labelFilter = regexp.MustCompile(`^\(?\s*labels\.([a-z0-9_-]+)\s*(?:=|eq)\s*"?([a-z0-9_-]*)"?\s*\)?$`)

func (f *Fake) listImages(filter string) (proto.Message, *apiError) {
	var key, value string
	if filter != "" {
		m := labelFilter.FindStringSubmatch(strings.TrimSpace(filter))
		if m == nil {
			return nil, invalid("Invalid value for field 'filter': '%s'. Invalid list filter expression.", filter)
		}
		key, value = m[1], m[2]
	}
	out := &computepb.ImageList{Kind: proto.String("compute#imageList"), Id: proto.String("projects/" + f.opts.Project + "/global/images"),
		SelfLink: proto.String(f.projectLink() + "/global/images")}
	for _, name := range sortedKeys(f.st.Images) {
		img := f.st.Images[name]
		if key != "" {
			if v, ok := img.Labels[key]; !ok || v != value {
				continue
			}
		}
		out.Items = append(out.Items, f.imageProto(img))
	}
	return out, nil
}

// Templates.

func (f *Fake) templateProto(t *Template) *computepb.InstanceTemplate {
	out := &computepb.InstanceTemplate{}
	if len(t.Raw) > 0 {
		_ = unmarshal.Unmarshal(t.Raw, out)
	}
	if out.Properties == nil {
		out.Properties = &computepb.InstanceProperties{MachineType: proto.String(t.MachineType),
			Disks: []*computepb.AttachedDisk{{Boot: proto.Bool(true), AutoDelete: proto.Bool(true), Type: proto.String("PERSISTENT"),
				InitializeParams: &computepb.AttachedDiskInitializeParams{SourceImage: proto.String(t.SourceImage)}}},
			NetworkInterfaces: []*computepb.NetworkInterface{{Network: proto.String(f.projectLink() + "/global/networks/default")}}}
		if t.GracefulShutdown > 0 {
			out.Properties.Scheduling = &computepb.Scheduling{GracefulShutdown: &computepb.SchedulingGracefulShutdown{
				Enabled: proto.Bool(true), MaxDuration: &computepb.Duration{Seconds: proto.Int64(int64(t.GracefulShutdown / time.Second))}}}
		}
	}
	out.Kind, out.Id, out.Name = proto.String("compute#instanceTemplate"), proto.Uint64(t.ID), proto.String(t.Name)
	out.SelfLink, out.CreationTimestamp = proto.String(f.templateLink(t.Name)), stamp(t.Created)
	if t.Description != "" {
		out.Description = proto.String(t.Description)
	}
	return out
}

func (f *Fake) getTemplate(name string) (proto.Message, *apiError) {
	t := f.st.Templates[name]
	if t == nil {
		return nil, notFound("projects/" + f.opts.Project + "/global/instanceTemplates/" + name)
	}
	return f.templateProto(t), nil
}

var resourceName = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

// bootImage is the source image of the boot disk.
func bootImage(p *computepb.InstanceProperties) string {
	for _, d := range p.GetDisks() {
		if d.GetBoot() {
			return d.GetInitializeParams().GetSourceImage()
		}
	}
	return ""
}

func (f *Fake) insertTemplate(body []byte, now time.Time) (proto.Message, *apiError) {
	var in computepb.InstanceTemplate
	if err := unmarshal.Unmarshal(body, &in); err != nil {
		return nil, invalid("Invalid JSON payload received. %v", err)
	}
	name := in.GetName()
	if !resourceName.MatchString(name) {
		return nil, invalid("Invalid value for field 'resource.name': '%s'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'", name)
	}
	if f.st.Templates[name] != nil {
		return nil, &apiError{http.StatusConflict, "alreadyExists", fmt.Sprintf("The resource 'projects/%s/global/instanceTemplates/%s' already exists", f.opts.Project, name)}
	}
	src := bootImage(in.Properties)
	img := f.st.image(src)
	if src == "" || img == nil {
		return nil, notFound(strings.TrimPrefix(src, SelfLinkBase))
	}
	t := &Template{Name: name, ID: f.nextID(), Description: in.GetDescription(), SourceImage: f.imageLink(img.Name),
		MachineType: in.GetProperties().GetMachineType(), Created: now}
	if gs := in.GetProperties().GetScheduling().GetGracefulShutdown(); gs.GetEnabled() {
		t.GracefulShutdown = time.Duration(gs.GetMaxDuration().GetSeconds()) * time.Second
	}
	in.Id, in.SelfLink, in.CreationTimestamp = nil, nil, nil
	raw, err := protojson.Marshal(&in)
	if err != nil {
		return nil, invalid("%v", err)
	}
	t.Raw = raw
	f.st.Templates[name] = t
	op := f.newOperation("global", "compute.instanceTemplates.insert", f.templateLink(name), t.ID, now)
	return f.operationProto(op), nil
}

// Instances.

func (f *Fake) getInstance(zone, name string) (proto.Message, *apiError) {
	for _, g := range f.st.Groups {
		in := g.instance(name)
		if in == nil || in.Zone != zone || in.ID == 0 {
			continue
		}
		out := &computepb.Instance{Kind: proto.String("compute#instance"), Id: proto.Uint64(in.ID), Name: proto.String(in.Name),
			Zone: proto.String(f.zoneLink(in.Zone)), Status: proto.String(in.Status), SelfLink: proto.String(f.instanceLink(in)),
			CreationTimestamp: stamp(in.Created), LastStartTimestamp: stamp(in.Started),
			NetworkInterfaces: []*computepb.NetworkInterface{{Name: proto.String("nic0"), NetworkIP: proto.String(in.PrivateIP),
				Network: proto.String(f.projectLink() + "/global/networks/default")}},
			Metadata: &computepb.Metadata{Items: []*computepb.Items{{Key: proto.String("instance-template"),
				Value: proto.String("projects/" + f.opts.Project + "/global/instanceTemplates/" + in.Template)}}}}
		if t := f.st.Templates[in.Template]; t != nil {
			out.Disks = []*computepb.AttachedDisk{{Boot: proto.Bool(true), Source: proto.String(f.zoneLink(in.Zone) + "/disks/" + in.Name)}}
		}
		return out, nil
	}
	return nil, notFound("projects/" + f.opts.Project + "/zones/" + zone + "/instances/" + name)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}
