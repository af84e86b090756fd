package fakeazure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	computefake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"
	networkfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7/fake"

	"github.com/nwroll/nwroll/cloud/azure"
)

// pollSuffix ends the URL the SDK's fake poller polls an operation at.
const pollSuffix = "/get/fake/status"

// lro is an operation under way: the transport holding its responder,
// and, when set, what must hold before its polls move on.
type lro struct {
	api   string
	tr    policy.Transporter
	until func() bool
}

// lroKey carries the *lro being made into the SDK fake's func fields.
type lroKey struct{}

type route struct {
	method string
	re     *regexp.Regexp
	api    string
}

const armPrefix = `(?i)^/subscriptions/(?P<sub>[^/]+)/resourceGroups/[^/]+/providers/Microsoft\.Compute/`

var routes = []route{
	{"GET", regexp.MustCompile(armPrefix + `virtualMachineScaleSets/[^/]+$`), "VirtualMachineScaleSetsClient.Get"},
	{"PATCH", regexp.MustCompile(armPrefix + `virtualMachineScaleSets/[^/]+$`), "VirtualMachineScaleSetsClient.BeginUpdate"},
	{"GET", regexp.MustCompile(armPrefix + `virtualMachineScaleSets/[^/]+/instanceView$`), "VirtualMachineScaleSetsClient.GetInstanceView"},
	{"POST", regexp.MustCompile(armPrefix + `virtualMachineScaleSets/[^/]+/delete$`), "VirtualMachineScaleSetsClient.BeginDeleteInstances"},
	{"POST", regexp.MustCompile(armPrefix + `virtualMachineScaleSets/[^/]+/setOrchestrationServiceState$`), "VirtualMachineScaleSetsClient.BeginSetOrchestrationServiceState"},
	{"GET", regexp.MustCompile(armPrefix + `virtualMachineScaleSets/[^/]+/virtualMachines$`), "VirtualMachineScaleSetVMsClient.NewListPager"},
	{"GET", regexp.MustCompile(armPrefix + `virtualMachineScaleSets/[^/]+/virtualMachines/[^/]+$`), "VirtualMachineScaleSetVMsClient.Get"},
	{"GET", regexp.MustCompile(armPrefix + `virtualMachineScaleSets/[^/]+/rollingUpgrades/latest$`), "VirtualMachineScaleSetRollingUpgradesClient.GetLatest"},
	{"POST", regexp.MustCompile(armPrefix + `virtualMachineScaleSets/[^/]+/rollingUpgrades/cancel$`), "VirtualMachineScaleSetRollingUpgradesClient.BeginCancel"},
	{"POST", regexp.MustCompile(armPrefix + `virtualMachineScaleSets/[^/]+/osRollingUpgrade$`), "VirtualMachineScaleSetRollingUpgradesClient.BeginStartOSUpgrade"},
	{"GET", regexp.MustCompile(armPrefix + `galleries/[^/]+/images/[^/]+/versions$`), "GalleryImageVersionsClient.NewListByGalleryImagePager"},
	{"GET", regexp.MustCompile(armPrefix + `galleries/[^/]+/images/[^/]+/versions/[^/]+$`), "GalleryImageVersionsClient.Get"},
	{"GET", regexp.MustCompile(armPrefix + `virtualMachineScaleSets/[^/]+/networkInterfaces$`), "InterfacesClient.NewListVirtualMachineScaleSetNetworkInterfacesPager"},
}

// armError is an ARM error answer.
type armError struct {
	status        int
	code, message string
}

func (e *armError) Error() string { return e.code + ": " + e.message }

func notFound(format string, args ...any) *armError {
	return &armError{http.StatusNotFound, "ResourceNotFound", fmt.Sprintf(format, args...)}
}

func writeARMError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-ms-error-code", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// ServeHTTP serves ARM and IMDS: each ARM request is routed to its API
// name and handed to the SDK's generated fake transport.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/metadata/scheduledevents") {
		f.serveIMDS(w, r)
		return
	}
	path := r.URL.Path
	req := r.Clone(r.Context())
	req.URL.Scheme, req.URL.Host = "http", r.Host
	if r.Method == http.MethodGet && strings.HasSuffix(path, pollSuffix) {
		key := strings.ToLower(strings.TrimSuffix(path, pollSuffix))
		f.mu.Lock()
		op := f.lros[key]
		f.mu.Unlock()
		if op == nil {
			writeARMError(w, http.StatusNotFound, "OperationNotFound", "No operation is under way at "+strings.TrimSuffix(path, pollSuffix)+".")
			return
		}
		if op.until != nil && !op.until() {
			w.Header().Set("Fake-Poller-Status", "InProgress")
			w.Header().Set("Retry-After-Ms", fmt.Sprint(f.opts.RetryAfter.Milliseconds()))
			w.WriteHeader(http.StatusAccepted)
			return
		}
		resp, err := op.tr.Do(req.WithContext(context.WithValue(req.Context(), runtime.CtxAPINameKey{}, op.api)))
		if err != nil || resp.Header.Get("Fake-Poller-Status") != "InProgress" {
			f.mu.Lock()
			if f.lros[key] == op {
				delete(f.lros, key)
			}
			f.mu.Unlock()
		}
		f.write(w, resp, err)
		return
	}
	var api string
	for _, rt := range routes {
		if m := rt.re.FindStringSubmatch(path); m != nil && rt.method == r.Method {
			if !strings.EqualFold(m[1], f.Subscription()) {
				writeARMError(w, http.StatusNotFound, "SubscriptionNotFound", fmt.Sprintf("The subscription '%s' could not be found.", m[1]))
				return
			}
			api = rt.api
			break
		}
	}
	if api == "" {
		writeARMError(w, http.StatusNotFound, "NoRegisteredProviderFound", fmt.Sprintf("The fake serves no %s %s.", r.Method, path))
		return
	}
	f.mu.Lock()
	f.calls[api]++
	set := scaleSetOf(path)
	ft, failed := f.takeFault(func(ft Fault) bool {
		return ft.Kind == FaultAPIError && ft.API == api && (ft.ScaleSet == "" || strings.EqualFold(ft.ScaleSet, set))
	})
	f.mu.Unlock()
	if failed {
		writeARMError(w, ft.Status, ft.Code, ft.Message)
		return
	}
	op := &lro{api: api, tr: f.transport(api)}
	ctx := context.WithValue(context.WithValue(req.Context(), runtime.CtxAPINameKey{}, api), lroKey{}, op)
	resp, err := op.tr.Do(req.WithContext(ctx))
	if err == nil && resp.Header.Get("Fake-Poller-Status") == "InProgress" {
		f.mu.Lock()
		f.lros[strings.ToLower(path)] = op
		f.mu.Unlock()
	}
	f.write(w, resp, err)
}

// scaleSetOf is the scale set a request path names, "" if none.
func scaleSetOf(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if strings.EqualFold(p, "virtualMachineScaleSets") && i+1 < len(parts) {
			return parts[i+1]
		}
	}
	return ""
}

// transport is a fresh SDK fake transport for api, its trackers empty.
func (f *Fake) transport(api string) policy.Transporter {
	if strings.HasPrefix(api, "InterfacesClient.") {
		return networkfake.NewServerFactoryTransport(&networkfake.ServerFactory{InterfacesServer: f.interfacesServer()})
	}
	return computefake.NewServerFactoryTransport(&computefake.ServerFactory{
		VirtualMachineScaleSetsServer:               f.scaleSetsServer(),
		VirtualMachineScaleSetVMsServer:             f.vmsServer(),
		VirtualMachineScaleSetRollingUpgradesServer: f.upgradesServer(),
		GalleryImageVersionsServer:                  f.imagesServer(),
	})
}

func (f *Fake) write(w http.ResponseWriter, resp *http.Response, err error) {
	if err != nil {
		var ae *armError
		var re *azcore.ResponseError
		switch {
		case errors.As(err, &ae):
			writeARMError(w, ae.status, ae.code, ae.message)
		case errors.As(err, &re):
			writeARMError(w, re.StatusCode, re.ErrorCode, re.ErrorCode)
		default:
			writeARMError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		}
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if resp.Header.Get("Fake-Poller-Status") == "InProgress" {
		w.Header().Set("Retry-After-Ms", fmt.Sprint(f.opts.RetryAfter.Milliseconds()))
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// serveIMDS answers GET (the scheduled events document) and POST
// ({"StartRequests":[{"EventId":"…"}]}: acknowledge), as IMDS does.
func (f *Fake) serveIMDS(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Metadata") != "true" {
		http.Error(w, `{"error":"Bad request. Required metadata header not specified"}`, http.StatusBadRequest)
		return
	}
	switch r.Method {
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.ScheduledEvents())
	case http.MethodPost:
		var body struct {
			StartRequests []struct {
				EventID string `json:"EventId"`
			} `json:"StartRequests"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, `{"error":"Bad request. `+err.Error()+`"}`, http.StatusBadRequest)
			return
		}
		for _, s := range body.StartRequests {
			f.Acknowledge(s.EventID)
		}
		w.WriteHeader(http.StatusOK)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// scaleSet finds a scale set; called with f.mu held.
func (f *Fake) scaleSet(rg, name string) (*ScaleSet, *armError) {
	s := f.st.ScaleSets[name]
	if s == nil || !strings.EqualFold(s.ResourceGroup, rg) {
		return nil, &armError{http.StatusNotFound, "ResourceNotFound",
			fmt.Sprintf("The Resource 'Microsoft.Compute/virtualMachineScaleSets/%s' under resource group '%s' was not found.", name, rg)}
	}
	return s, nil
}

func errResponder(e error) (er azfake.ErrorResponder) {
	er.SetError(e)
	return er
}

// poller answers result after OperationPolls polls, each answered
// status (PATCH: 200, as ARM; POST: 202).
func poller[T any](f *Fake, status int, result T) (p azfake.PollerResponder[T]) {
	for range f.opts.OperationPolls {
		p.AddNonTerminalResponse(status, nil)
	}
	p.SetTerminalResponse(http.StatusOK, result, nil)
	return p
}

func ptr[T any](v T) *T { return &v }

func (f *Fake) scaleSetID(s *ScaleSet) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s", f.st.Subscription, s.ResourceGroup, s.Name)
}

func (f *Fake) vmID(s *ScaleSet, v *VM) string {
	return f.scaleSetID(s) + "/virtualMachines/" + v.InstanceID
}

func (f *Fake) imageReference(s *ScaleSet) *armcompute.ImageReference {
	switch s.ImageRefVersion {
	case "":
		return &armcompute.ImageReference{ID: ptr(s.ImageRef)}
	case "latest":
		return &armcompute.ImageReference{ID: ptr(s.ImageRef)}
	}
	return &armcompute.ImageReference{ID: ptr(s.ImageRef + "/versions/" + s.ImageRefVersion)}
}

func (f *Fake) scaleSetModel(s *ScaleSet) armcompute.VirtualMachineScaleSet {
	mode := armcompute.UpgradeMode(s.UpgradeMode)
	m := armcompute.VirtualMachineScaleSet{ID: ptr(f.scaleSetID(s)), Name: ptr(s.Name), Location: ptr(s.Location),
		Type: ptr("Microsoft.Compute/virtualMachineScaleSets"),
		SKU:  &armcompute.SKU{Name: ptr("Standard_D2s_v5"), Tier: ptr("Standard"), Capacity: ptr(int64(s.Capacity))},
		Properties: &armcompute.VirtualMachineScaleSetProperties{
			OrchestrationMode: ptr(armcompute.OrchestrationModeUniform), ProvisioningState: ptr("Succeeded"),
			UpgradePolicy: &armcompute.UpgradePolicy{Mode: &mode},
			VirtualMachineProfile: &armcompute.VirtualMachineScaleSetVMProfile{
				StorageProfile: &armcompute.VirtualMachineScaleSetStorageProfile{ImageReference: f.imageReference(s)},
			},
			TimeCreated: ptr(s.Created), UniqueID: ptr(fmt.Sprintf("%08x-0000-4000-8000-000000000000", len(s.Name)*7919)),
		}}
	if s.TerminateNotification || s.NotBeforeTimeout != "" {
		m.Properties.VirtualMachineProfile.ScheduledEventsProfile = &armcompute.ScheduledEventsProfile{
			TerminateNotificationProfile: &armcompute.TerminateNotificationProfile{Enable: ptr(s.TerminateNotification), NotBeforeTimeout: ptr(s.NotBeforeTimeout)}}
	}
	if st, ok := s.Services[AutomaticRepairs]; ok {
		m.Properties.AutomaticRepairsPolicy = &armcompute.AutomaticRepairsPolicy{Enabled: ptr(st != NotRunning)}
	}
	if len(s.Tags) > 0 {
		m.Tags = map[string]*string{}
		for k, v := range s.Tags {
			m.Tags[k] = ptr(v)
		}
	}
	for _, z := range s.Zones {
		m.Zones = append(m.Zones, ptr(z))
	}
	return m
}

func (f *Fake) vmModel(s *ScaleSet, v *VM, instanceView bool) *armcompute.VirtualMachineScaleSetVM {
	m := &armcompute.VirtualMachineScaleSetVM{ID: ptr(f.vmID(s, v)), InstanceID: ptr(v.InstanceID), Name: ptr(v.Name),
		Location: ptr(s.Location), Type: ptr("Microsoft.Compute/virtualMachineScaleSets/virtualMachines"),
		Properties: &armcompute.VirtualMachineScaleSetVMProperties{
			ProvisioningState:  ptr(v.State),
			LatestModelApplied: ptr(v.Model == s.Model),
			ProtectionPolicy:   &armcompute.VirtualMachineScaleSetVMProtectionPolicy{ProtectFromScaleIn: ptr(v.ProtectScaleIn), ProtectFromScaleSetActions: ptr(v.ProtectSetActions)},
			StorageProfile:     &armcompute.StorageProfile{ImageReference: &armcompute.ImageReference{ID: ptr(v.ImageRef)}},
			NetworkProfile:     &armcompute.NetworkProfile{NetworkInterfaces: []*armcompute.NetworkInterfaceReference{{ID: ptr(f.vmID(s, v) + "/networkInterfaces/nic0")}}},
			TimeCreated:        ptr(v.Created),
			VMID:               ptr(fmt.Sprintf("%08x-0000-4000-8000-%012s", len(v.Name), v.InstanceID)),
		}}
	if v.Zone != "" {
		m.Zones = []*string{ptr(v.Zone)}
	}
	if instanceView {
		code := "ProvisioningState/" + strings.ToLower(v.State)
		if v.State == Deleting {
			code = "ProvisioningState/deleting"
		}
		st := &armcompute.InstanceViewStatus{Code: ptr(code), Level: ptr(armcompute.StatusLevelTypesInfo), DisplayStatus: ptr("Provisioning " + strings.ToLower(v.State))}
		if v.State == Failed {
			st.Level, st.Message, st.DisplayStatus = ptr(armcompute.StatusLevelTypesError), ptr(v.Error), ptr("Provisioning failed")
		}
		iv := &armcompute.VirtualMachineScaleSetVMInstanceView{Statuses: []*armcompute.InstanceViewStatus{st}}
		if v.State == Succeeded {
			iv.Statuses = append(iv.Statuses, &armcompute.InstanceViewStatus{Code: ptr("PowerState/running"), Level: ptr(armcompute.StatusLevelTypesInfo), DisplayStatus: ptr("VM running")})
		}
		m.Properties.InstanceView = iv
	}
	return m
}

func (f *Fake) scaleSetsServer() computefake.VirtualMachineScaleSetsServer {
	return computefake.VirtualMachineScaleSetsServer{
		Get: func(_ context.Context, rg, name string, _ *armcompute.VirtualMachineScaleSetsClientGetOptions) (resp azfake.Responder[armcompute.VirtualMachineScaleSetsClientGetResponse], er azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			s, e := f.scaleSet(rg, name)
			if e != nil {
				return resp, errResponder(e)
			}
			resp.SetResponse(http.StatusOK, armcompute.VirtualMachineScaleSetsClientGetResponse{VirtualMachineScaleSet: f.scaleSetModel(s)}, nil)
			return resp, er
		},
		GetInstanceView: func(_ context.Context, rg, name string, _ *armcompute.VirtualMachineScaleSetsClientGetInstanceViewOptions) (resp azfake.Responder[armcompute.VirtualMachineScaleSetsClientGetInstanceViewResponse], er azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			s, e := f.scaleSet(rg, name)
			if e != nil {
				return resp, errResponder(e)
			}
			iv := armcompute.VirtualMachineScaleSetInstanceView{Statuses: []*armcompute.InstanceViewStatus{{Code: ptr("ProvisioningState/succeeded"), Level: ptr(armcompute.StatusLevelTypesInfo)}}}
			for _, n := range sortedKeys(s.Services) {
				iv.OrchestrationServices = append(iv.OrchestrationServices, &armcompute.OrchestrationServiceSummary{
					ServiceName: ptr(armcompute.OrchestrationServiceNames(n)), ServiceState: ptr(armcompute.OrchestrationServiceState(s.Services[n]))})
			}
			resp.SetResponse(http.StatusOK, armcompute.VirtualMachineScaleSetsClientGetInstanceViewResponse{VirtualMachineScaleSetInstanceView: iv}, nil)
			return resp, er
		},
		BeginUpdate: func(_ context.Context, rg, name string, p armcompute.VirtualMachineScaleSetUpdate, _ *armcompute.VirtualMachineScaleSetsClientBeginUpdateOptions) (resp azfake.PollerResponder[armcompute.VirtualMachineScaleSetsClientUpdateResponse], er azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			s, e := f.scaleSet(rg, name)
			if e == nil {
				e = f.update(s, p)
			}
			if e != nil {
				return resp, errResponder(e)
			}
			return poller(f, http.StatusOK, armcompute.VirtualMachineScaleSetsClientUpdateResponse{VirtualMachineScaleSet: f.scaleSetModel(s)}), er
		},
		BeginDeleteInstances: func(ctx context.Context, rg, name string, ids armcompute.VirtualMachineScaleSetVMInstanceRequiredIDs, o *armcompute.VirtualMachineScaleSetsClientBeginDeleteInstancesOptions) (resp azfake.PollerResponder[armcompute.VirtualMachineScaleSetsClientDeleteInstancesResponse], er azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			s, e := f.scaleSet(rg, name)
			if e != nil {
				return resp, errResponder(e)
			}
			var vms []*VM
			for _, id := range ids.InstanceIDs {
				v := s.vmByInstance(deref(id))
				if v == nil {
					return resp, errResponder(&armError{http.StatusBadRequest, "InvalidParameter",
						fmt.Sprintf("The provided instanceId %s is not an active Virtual Machine Scale Set VM instanceId.", deref(id))})
				}
				vms = append(vms, v)
			}
			force := o != nil && o.ForceDeletion != nil && *o.ForceDeletion
			now := f.now()
			for _, v := range vms {
				if v.State == Deleting {
					continue
				}
				s.Capacity = max(0, s.Capacity-1)
				if force {
					v.State = Deleting
					continue
				}
				f.startDelete(s, v, now)
			}
			if op, ok := ctx.Value(lroKey{}).(*lro); ok && f.opts.DeleteWaits {
				op.until = func() bool {
					f.mu.Lock()
					defer f.mu.Unlock()
					for _, v := range vms {
						if s.vm(v.Name) != nil {
							return false
						}
					}
					return true
				}
			}
			return poller(f, http.StatusAccepted, armcompute.VirtualMachineScaleSetsClientDeleteInstancesResponse{}), er
		},
		BeginSetOrchestrationServiceState: func(_ context.Context, rg, name string, p armcompute.OrchestrationServiceStateInput, _ *armcompute.VirtualMachineScaleSetsClientBeginSetOrchestrationServiceStateOptions) (resp azfake.PollerResponder[armcompute.VirtualMachineScaleSetsClientSetOrchestrationServiceStateResponse], er azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			s, e := f.scaleSet(rg, name)
			if e != nil {
				return resp, errResponder(e)
			}
			svc, action := string(deref(p.ServiceName)), string(deref(p.Action))
			st, ok := s.Services[svc]
			if !ok || st == NotRunning {
				return resp, errResponder(&armError{http.StatusConflict, "OperationNotAllowed",
					fmt.Sprintf("Orchestration service %s is not enabled on scale set %s.", svc, s.Name)})
			}
			switch action {
			case "Suspend":
				s.Services[svc] = Suspended
			case "Resume":
				s.Services[svc] = Running
			default:
				return resp, errResponder(&armError{http.StatusBadRequest, "InvalidParameter", fmt.Sprintf("Unknown action %q.", action)})
			}
			return poller(f, http.StatusAccepted, armcompute.VirtualMachineScaleSetsClientSetOrchestrationServiceStateResponse{}), er
		},
	}
}

func deref[T any](p *T) T {
	if p == nil {
		var z T
		return z
	}
	return *p
}

// update applies a PATCH of the scale set. Called with f.mu held.
func (f *Fake) update(s *ScaleSet, p armcompute.VirtualMachineScaleSetUpdate) *armError {
	now := f.now()
	changed := false
	if pr := p.Properties; pr != nil {
		if pr.UpgradePolicy != nil && pr.UpgradePolicy.Mode != nil {
			s.UpgradeMode = string(*pr.UpgradePolicy.Mode)
		}
		if vp := pr.VirtualMachineProfile; vp != nil {
			if vp.StorageProfile != nil && vp.StorageProfile.ImageReference != nil && vp.StorageProfile.ImageReference.ID != nil {
				id := *vp.StorageProfile.ImageReference.ID
				if f.st.Images[strings.ToLower(id)] == nil {
					return &armError{http.StatusNotFound, "GalleryImageNotFound", fmt.Sprintf("The gallery image version %s is not available.", id)}
				}
				if !strings.EqualFold(id, s.ImageRef) || s.ImageRefVersion != "" {
					s.ImageRef, s.ImageRefVersion = id, ""
					changed = true
				}
			}
			if se := vp.ScheduledEventsProfile; se != nil && se.TerminateNotificationProfile != nil {
				tn := se.TerminateNotificationProfile
				if tn.Enable != nil {
					s.TerminateNotification = *tn.Enable
				}
				if tn.NotBeforeTimeout != nil {
					if _, err := azure.ParseDuration(*tn.NotBeforeTimeout); err != nil {
						return &armError{http.StatusBadRequest, "InvalidParameter", err.Error()}
					}
					s.NotBeforeTimeout = *tn.NotBeforeTimeout
				}
			}
		}
	}
	if changed {
		s.Model++
		if s.UpgradeMode == "Rolling" && s.activeUpgrade() == nil {
			s.Upgrades = append(s.Upgrades, &RollingUpgrade{ID: newUUID(f), Status: "RollingForward", Start: now})
		}
	}
	if p.SKU != nil && p.SKU.Capacity != nil {
		if *p.SKU.Capacity < 0 || *p.SKU.Capacity > 1000 {
			return &armError{http.StatusBadRequest, "InvalidParameter", fmt.Sprintf("The capacity %d is out of range [0, 1000].", *p.SKU.Capacity)}
		}
		s.Capacity = int(*p.SKU.Capacity)
		f.reconcile(s, now)
	}
	return nil
}

func (f *Fake) vmsServer() computefake.VirtualMachineScaleSetVMsServer {
	return computefake.VirtualMachineScaleSetVMsServer{
		NewListPager: func(rg, name string, o *armcompute.VirtualMachineScaleSetVMsClientListOptions) (resp azfake.PagerResponder[armcompute.VirtualMachineScaleSetVMsClientListResponse]) {
			f.mu.Lock()
			defer f.mu.Unlock()
			s, e := f.scaleSet(rg, name)
			if e != nil {
				resp.AddError(e)
				return resp
			}
			expand := o != nil && strings.EqualFold(deref(o.Expand), "instanceView")
			page := armcompute.VirtualMachineScaleSetVMsClientListResponse{}
			page.Value = []*armcompute.VirtualMachineScaleSetVM{}
			for _, v := range s.VMs {
				page.Value = append(page.Value, f.vmModel(s, v, expand))
			}
			resp.AddPage(http.StatusOK, page, nil)
			return resp
		},
		Get: func(_ context.Context, rg, name, id string, o *armcompute.VirtualMachineScaleSetVMsClientGetOptions) (resp azfake.Responder[armcompute.VirtualMachineScaleSetVMsClientGetResponse], er azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			s, e := f.scaleSet(rg, name)
			if e != nil {
				return resp, errResponder(e)
			}
			v := s.vmByInstance(id)
			if v == nil {
				return resp, errResponder(notFound("The Resource 'Microsoft.Compute/virtualMachineScaleSets/%s/virtualMachines/%s' under resource group '%s' was not found.", name, id, rg))
			}
			resp.SetResponse(http.StatusOK, armcompute.VirtualMachineScaleSetVMsClientGetResponse{VirtualMachineScaleSetVM: *f.vmModel(s, v, o != nil && o.Expand != nil)}, nil)
			return resp, er
		},
	}
}

func (f *Fake) upgradeModel(s *ScaleSet, u *RollingUpgrade) armcompute.RollingUpgradeStatusInfo {
	inProgress := 0
	if u.Replacing != "" {
		inProgress = 1
	}
	pending := 0
	if u.Status == "RollingForward" {
		pending = s.pending(u.Replacing)
	}
	info := armcompute.RollingUpgradeStatusInfo{ID: ptr(f.scaleSetID(s) + "/rollingUpgrades/" + u.ID), Location: ptr(s.Location),
		Properties: &armcompute.RollingUpgradeStatusInfoProperties{
			RunningStatus: &armcompute.RollingUpgradeRunningStatus{Code: ptr(armcompute.RollingUpgradeStatusCode(u.Status)), StartTime: ptr(u.Start),
				LastAction: ptr(armcompute.RollingUpgradeActionTypeStart)},
			Progress: &armcompute.RollingUpgradeProgressInfo{SuccessfulInstanceCount: ptr(int32(u.Done)), FailedInstanceCount: ptr(int32(u.Failed)),
				InProgressInstanceCount: ptr(int32(inProgress)), PendingInstanceCount: ptr(int32(pending))},
			Policy: &armcompute.RollingUpgradePolicy{MaxSurge: ptr(true)},
		}}
	if u.Cancel {
		info.Properties.RunningStatus.LastAction = ptr(armcompute.RollingUpgradeActionTypeCancel)
	}
	if !u.End.IsZero() {
		info.Properties.RunningStatus.LastActionTime = ptr(u.End)
	}
	if u.Status == "Faulted" {
		info.Properties.Error = &armcompute.APIError{Code: ptr("RollingUpgradeFaulted"), Message: ptr("A new VM failed to provision.")}
	}
	return info
}

func (f *Fake) upgradesServer() computefake.VirtualMachineScaleSetRollingUpgradesServer {
	return computefake.VirtualMachineScaleSetRollingUpgradesServer{
		GetLatest: func(_ context.Context, rg, name string, _ *armcompute.VirtualMachineScaleSetRollingUpgradesClientGetLatestOptions) (resp azfake.Responder[armcompute.VirtualMachineScaleSetRollingUpgradesClientGetLatestResponse], er azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			s, e := f.scaleSet(rg, name)
			if e != nil {
				return resp, errResponder(e)
			}
			if len(s.Upgrades) == 0 {
				return resp, errResponder(notFound("The entity was not found in this Azure location."))
			}
			resp.SetResponse(http.StatusOK, armcompute.VirtualMachineScaleSetRollingUpgradesClientGetLatestResponse{
				RollingUpgradeStatusInfo: f.upgradeModel(s, s.Upgrades[len(s.Upgrades)-1])}, nil)
			return resp, er
		},
		BeginCancel: func(_ context.Context, rg, name string, _ *armcompute.VirtualMachineScaleSetRollingUpgradesClientBeginCancelOptions) (resp azfake.PollerResponder[armcompute.VirtualMachineScaleSetRollingUpgradesClientCancelResponse], er azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			s, e := f.scaleSet(rg, name)
			if e != nil {
				return resp, errResponder(e)
			}
			u := s.activeUpgrade()
			if u == nil {
				return resp, errResponder(&armError{http.StatusConflict, "OperationNotAllowed", "There is no ongoing Rolling Upgrade to cancel."})
			}
			u.Cancel = true
			return poller(f, http.StatusAccepted, armcompute.VirtualMachineScaleSetRollingUpgradesClientCancelResponse{}), er
		},
		BeginStartOSUpgrade: func(_ context.Context, rg, name string, _ *armcompute.VirtualMachineScaleSetRollingUpgradesClientBeginStartOSUpgradeOptions) (resp azfake.PollerResponder[armcompute.VirtualMachineScaleSetRollingUpgradesClientStartOSUpgradeResponse], er azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			s, e := f.scaleSet(rg, name)
			if e != nil {
				return resp, errResponder(e)
			}
			if s.activeUpgrade() == nil {
				s.Upgrades = append(s.Upgrades, &RollingUpgrade{ID: newUUID(f), Status: "RollingForward", Start: f.now()})
			}
			return poller(f, http.StatusAccepted, armcompute.VirtualMachineScaleSetRollingUpgradesClientStartOSUpgradeResponse{}), er
		},
	}
}

func (f *Fake) imageModel(id string, img *ImageVersion) *armcompute.GalleryImageVersion {
	m := &armcompute.GalleryImageVersion{ID: ptr(ImageID(f.st.Subscription, img.ResourceGroup, img.Gallery, img.Definition, img.Version)),
		Name: ptr(img.Version), Location: ptr(f.opts.Location), Type: ptr("Microsoft.Compute/galleries/images/versions"),
		Properties: &armcompute.GalleryImageVersionProperties{ProvisioningState: ptr(armcompute.GalleryProvisioningStateSucceeded),
			PublishingProfile: &armcompute.GalleryImageVersionPublishingProfile{PublishedDate: ptr(img.Created)}}}
	if len(img.Tags) > 0 {
		m.Tags = map[string]*string{}
		for k, v := range img.Tags {
			m.Tags[k] = ptr(v)
		}
	}
	return m
}

func (f *Fake) imagesServer() computefake.GalleryImageVersionsServer {
	return computefake.GalleryImageVersionsServer{
		NewListByGalleryImagePager: func(rg, gallery, definition string, _ *armcompute.GalleryImageVersionsClientListByGalleryImageOptions) (resp azfake.PagerResponder[armcompute.GalleryImageVersionsClientListByGalleryImageResponse]) {
			f.mu.Lock()
			defer f.mu.Unlock()
			page := armcompute.GalleryImageVersionsClientListByGalleryImageResponse{}
			page.Value = []*armcompute.GalleryImageVersion{}
			for _, id := range sortedKeys(f.st.Images) {
				img := f.st.Images[id]
				if strings.EqualFold(img.ResourceGroup, rg) && strings.EqualFold(img.Gallery, gallery) && strings.EqualFold(img.Definition, definition) {
					page.Value = append(page.Value, f.imageModel(id, img))
				}
			}
			resp.AddPage(http.StatusOK, page, nil)
			return resp
		},
		Get: func(_ context.Context, rg, gallery, definition, version string, _ *armcompute.GalleryImageVersionsClientGetOptions) (resp azfake.Responder[armcompute.GalleryImageVersionsClientGetResponse], er azfake.ErrorResponder) {
			f.mu.Lock()
			defer f.mu.Unlock()
			id := strings.ToLower(ImageID(f.st.Subscription, rg, gallery, definition, version))
			img := f.st.Images[id]
			if img == nil {
				return resp, errResponder(notFound("The Resource 'Microsoft.Compute/galleries/%s/images/%s/versions/%s' under resource group '%s' was not found.", gallery, definition, version, rg))
			}
			resp.SetResponse(http.StatusOK, armcompute.GalleryImageVersionsClientGetResponse{GalleryImageVersion: *f.imageModel(id, img)}, nil)
			return resp, er
		},
	}
}

func (f *Fake) interfacesServer() networkfake.InterfacesServer {
	return networkfake.InterfacesServer{
		NewListVirtualMachineScaleSetNetworkInterfacesPager: func(rg, name string, _ *armnetwork.InterfacesClientListVirtualMachineScaleSetNetworkInterfacesOptions) (resp azfake.PagerResponder[armnetwork.InterfacesClientListVirtualMachineScaleSetNetworkInterfacesResponse]) {
			f.mu.Lock()
			defer f.mu.Unlock()
			s, e := f.scaleSet(rg, name)
			if e != nil {
				resp.AddError(e)
				return resp
			}
			page := armnetwork.InterfacesClientListVirtualMachineScaleSetNetworkInterfacesResponse{}
			page.Value = []*armnetwork.Interface{}
			for _, v := range s.VMs {
				if v.PrivateIP == "" {
					continue
				}
				nic := f.vmID(s, v) + "/networkInterfaces/nic0"
				page.Value = append(page.Value, &armnetwork.Interface{ID: ptr(nic), Name: ptr("nic0"), Location: ptr(s.Location),
					Properties: &armnetwork.InterfacePropertiesFormat{Primary: ptr(true), VirtualMachine: &armnetwork.SubResource{ID: ptr(f.vmID(s, v))},
						IPConfigurations: []*armnetwork.InterfaceIPConfiguration{{ID: ptr(nic + "/ipConfigurations/ipconfig1"), Name: ptr("ipconfig1"),
							Properties: &armnetwork.InterfaceIPConfigurationPropertiesFormat{Primary: ptr(true), PrivateIPAddress: ptr(v.PrivateIP)}}}}})
			}
			resp.AddPage(http.StatusOK, page, nil)
			return resp
		},
	}
}
